"""Demo customers of the sandbox: the same people, companies, deals and call history written
in both CRMs' shapes. Ids are derived from the instance identity, so a reset keeps them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from plugin.sandbox.store import Store


@dataclass(frozen=True, slots=True)
class Company:
    key: str
    name: str
    industry: str
    employees: int
    website: str
    city: str


@dataclass(frozen=True, slots=True)
class Person:
    key: str
    first: str
    last: str
    title: str
    company: str  # Company.key
    kind: str  # Contact | Lead (Salesforce); HubSpot keeps both as contacts
    phone: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(frozen=True, slots=True)
class Deal:
    key: str
    name: str
    company: str
    contact: str
    sf_stage: str
    hs_stage: str
    amount: int
    close_in_days: int
    closed: bool = False


@dataclass(frozen=True, slots=True)
class PastCall:
    key: str
    person: str
    days_ago: int
    subject: str
    minutes: int
    notes: str
    deal: str = ""
    as_note: bool = False  # HubSpot: a note instead of a call engagement


COMPANIES = (
    Company("acme", "Acme Logistics", "Transportation", 850, "acme-logistics.example", "Denver"),
    Company("northwind", "Northwind Health", "Healthcare", 2300, "northwind-health.example",
            "Boston"),
    Company("globex", "Globex Manufacturing", "Manufacturing", 5200, "globex.example", "Detroit"),
    Company("initech", "Initech Software", "Technology", 320, "initech.example", "Austin"),
    Company("umbrella", "Umbrella Retail", "Retail", 12000, "umbrella-retail.example",
            "Seattle"),
)

PEOPLE = (
    Person("maria", "Maria", "Chen", "VP Operations", "acme", "Contact", "+1 303 555 0142"),
    Person("tom", "Tom", "Becker", "Chief Financial Officer", "acme", "Contact",
           "+1 303 555 0178"),
    Person("priya", "Priya", "Natarajan", "Director of IT", "northwind", "Contact",
           "+1 617 555 0110"),
    Person("james", "James", "O'Neill", "Head of Procurement", "globex", "Contact",
           "+1 313 555 0199"),
    Person("hannah", "Hannah", "Wright", "Revenue Operations Lead", "globex", "Lead",
           "+1 313 555 0123"),
    Person("sofia", "Sofia", "Alvarez", "Sales Enablement Manager", "initech", "Contact",
           "+1 512 555 0165"),
    Person("liam", "Liam", "Foster", "Chief Operating Officer", "umbrella", "Lead",
           "+1 206 555 0131"),
)

DEALS = (
    Deal("acme-rollout", "Acme Logistics - Coaching Rollout", "acme", "maria",
         "Negotiation/Review", "contractsent", 48000, 21),
    Deal("northwind-pilot", "Northwind Health - Pilot", "northwind", "priya",
         "Proposal/Price Quote", "presentationscheduled", 18500, 45),
    Deal("globex-enterprise", "Globex - Enterprise Expansion", "globex", "james",
         "Qualification", "qualifiedtobuy", 120000, 120),
    Deal("initech-team", "Initech - Team Plan Upgrade", "initech", "sofia",
         "Value Proposition", "decisionmakerboughtin", 22000, 60),
    Deal("initech-starter", "Initech - Starter Plan", "initech", "sofia",
         "Closed Won", "closedwon", 6000, -90, closed=True),
)

CALLS = (
    PastCall("maria-discovery", "maria", 21, "Discovery call", 32,
             "Maria runs dispatch for 140 drivers across 3 depots. Budget is tight this year: "
             "anything over $50k needs sign-off from Tom Becker (CFO). They are also evaluating "
             "Gong. Wants a decision before the end of Q1.", deal="acme-rollout"),
    PastCall("maria-demo", "maria", 7, "Demo: live coaching", 41,
             "Very positive on live nudges. Raised concerns about price compared with Gong and "
             "asked for a discount on a 2-year term. Next step: send the proposal by Friday and "
             "book a security review with their IT team.", deal="acme-rollout"),
    PastCall("tom-intro", "tom", 5, "CFO introduction", 18,
             "Tom cares about ROI and payback period. Budget is approved for Q1 only if payback "
             "is under 9 months. Wants a one-page business case.", deal="acme-rollout",
             as_note=True),
    PastCall("priya-technical", "priya", 14, "Technical deep dive", 45,
             "HIPAA and data residency questions; needs SSO through Okta. Timeline: pilot to "
             "start in January. They compared us with Chorus on call recording retention.",
             deal="northwind-pilot"),
    PastCall("james-procurement", "james", 30, "Procurement intro", 25,
             "Globex runs a formal RFP in March; vendors must be on the approved supplier list. "
             "Price is the main criterion. Currently using Salesloft for cadences.",
             deal="globex-enterprise"),
    PastCall("hannah-revops", "hannah", 2, "RevOps requirements", 22,
             "Hannah needs call summaries written back to Salesforce automatically. Timeline: "
             "end of quarter. Also evaluating Clari; budget not yet allocated.", as_note=True),
    PastCall("sofia-checkin", "sofia", 3, "Quarterly check-in", 20,
             "Team of 25 reps is happy with the Starter plan. Wants to upgrade to the Team plan "
             "next quarter; the budget owner is the VP Sales. Asked for pricing by seat.",
             deal="initech-team"),
    PastCall("liam-cold", "liam", 10, "Cold call", 6,
             "Interested but happy with the status quo: they do ride-alongs already. Asked us to "
             "call back after the holiday season, in January."),
)

SF_DEAL_PROB = {"Qualification": 10, "Value Proposition": 30, "Proposal/Price Quote": 65,
                "Negotiation/Review": 80, "Closed Won": 100}


def _sf_id(prefix: str, seed: str, key: str) -> str:
    digest = hashlib.sha256(f"{seed}:{prefix}:{key}".encode()).hexdigest().upper()
    return (prefix + "SB" + digest)[:18]


def _hs_id(base: int, seed: str, index: int) -> str:
    offset = int(hashlib.sha256(seed.encode()).hexdigest()[:4], 16)
    return str(base + offset * 1000 + index)


def record_ids(seed: str) -> dict[str, dict[str, str]]:
    """Stable ids of every demo record: ``{"sf": {key: id}, "hs": {key: id}}``."""
    sf: dict[str, str] = {}
    hs: dict[str, str] = {}
    for i, co in enumerate(COMPANIES, 1):
        sf["company:" + co.key] = _sf_id("001", seed, co.key)
        hs["company:" + co.key] = _hs_id(18_000_000_000, seed, i)
    for i, p in enumerate(PEOPLE, 1):
        sf["person:" + p.key] = _sf_id("003" if p.kind == "Contact" else "00Q", seed, p.key)
        hs["person:" + p.key] = _hs_id(51_000_000_000, seed, i)
    for i, d in enumerate(DEALS, 1):
        sf["deal:" + d.key] = _sf_id("006", seed, d.key)
        hs["deal:" + d.key] = _hs_id(22_000_000_000, seed, i)
    for i, c in enumerate(CALLS, 1):
        sf["call:" + c.key] = _sf_id("00T", seed, c.key)
        hs["call:" + c.key] = _hs_id(60_000_000_000, seed, i)
    return {"sf": sf, "hs": hs}


def directory(seed: str) -> list[dict[str, str]]:
    """The demo people with their ids in both CRMs (for demo pages and tests)."""
    ids = record_ids(seed)
    companies = {c.key: c for c in COMPANIES}
    return [{"key": p.key, "name": p.name, "title": p.title,
             "company": companies[p.company].name, "sf_type": p.kind,
             "sf_id": ids["sf"]["person:" + p.key], "hs_id": ids["hs"]["person:" + p.key],
             "email": _email(p, companies[p.company])} for p in PEOPLE]


def _email(p: Person, co: Company) -> str:
    local = (p.first + "." + p.last).lower().replace("'", "")
    return f"{local}@{co.website}"


def _ms(dt: datetime) -> str:
    return str(int(dt.timestamp() * 1000))


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seed(store: Store, ident: dict[str, str]) -> None:
    """Replace all records with the demo data set (tokens and OAuth state are kept)."""
    store.wipe_data()
    seed_key = ident["sf_org_id"]
    ids = record_ids(seed_key)
    sf, hs = ids["sf"], ids["hs"]
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    companies = {c.key: c for c in COMPANIES}
    owner = ident["sf_user_id"]
    with store.tx() as c:
        for co in COMPANIES:
            store.insert("Account", sf["company:" + co.key], {
                "Name": co.name, "Industry": co.industry, "NumberOfEmployees": co.employees,
                "Website": "https://" + co.website, "BillingCity": co.city, "OwnerId": owner,
            }, seeded=True, conn=c)
            store.insert("companies", hs["company:" + co.key], {
                "name": co.name, "domain": co.website, "industry": co.industry.upper(),
                "numberofemployees": str(co.employees), "city": co.city,
            }, seeded=True, conn=c)
        for p in PEOPLE:
            co = companies[p.company]
            email = _email(p, co)
            common = {"FirstName": p.first, "LastName": p.last, "Title": p.title,
                      "Email": email, "Phone": p.phone, "OwnerId": owner}
            if p.kind == "Contact":
                store.insert("Contact", sf["person:" + p.key],
                             {**common, "AccountId": sf["company:" + co.key]}, seeded=True,
                             conn=c)
            else:
                store.insert("Lead", sf["person:" + p.key],
                             {**common, "Company": co.name, "Status": "Working - Contacted",
                              "Industry": co.industry}, seeded=True, conn=c)
            hid = hs["person:" + p.key]
            store.insert("contacts", hid, {
                "firstname": p.first, "lastname": p.last, "jobtitle": p.title, "email": email,
                "phone": p.phone, "company": co.name,
                "lifecyclestage": "lead" if p.kind == "Lead" else "opportunity",
            }, seeded=True, conn=c)
            store.associate("contacts", hid, "companies", hs["company:" + co.key], 279, conn=c)
        for d in DEALS:
            close = today + timedelta(days=d.close_in_days)
            store.insert("Opportunity", sf["deal:" + d.key], {
                "Name": d.name, "StageName": d.sf_stage, "Amount": d.amount,
                "CloseDate": close.isoformat(), "IsClosed": d.closed, "IsWon": d.closed,
                "Probability": SF_DEAL_PROB.get(d.sf_stage, 20),
                "AccountId": sf["company:" + d.company], "OwnerId": owner,
            }, seeded=True, conn=c)
            hid = hs["deal:" + d.key]
            store.insert("deals", hid, {
                "dealname": d.name, "dealstage": d.hs_stage, "pipeline": "default",
                "amount": str(d.amount), "closedate": _iso(datetime.combine(close,
                                                                              datetime.min.time(),
                                                                              UTC)),
                "hs_is_closed": "true" if d.closed else "false",
            }, seeded=True, conn=c)
            store.associate("deals", hid, "contacts", hs["person:" + d.contact], 3, conn=c)
            store.associate("deals", hid, "companies", hs["company:" + d.company], 341, conn=c)
        for call in CALLS:
            person = next(p for p in PEOPLE if p.key == call.person)
            when = now - timedelta(days=call.days_ago, hours=2)
            what = sf["deal:" + call.deal] if call.deal else (
                sf["company:" + person.company] if person.kind == "Contact" else "")
            task = {
                "Subject": call.subject, "TaskSubtype": "Call", "Type": "Call",
                "CallType": "Outbound", "CallDurationInSeconds": call.minutes * 60,
                "CallDisposition": "Connected", "Description": call.notes,
                "ActivityDate": (today - timedelta(days=call.days_ago)).isoformat(),
                "Status": "Completed", "WhoId": sf["person:" + person.key],
                "WhatId": what or None, "OwnerId": owner,
            }
            store.insert("Task", sf["call:" + call.key], task, seeded=True,
                         created_at=_iso(when), conn=c)
            hid = hs["call:" + call.key]
            pid = hs["person:" + person.key]
            if call.as_note:
                store.insert("notes", hid, {
                    "hs_timestamp": _iso(when),
                    "hs_note_body": f"<p><strong>{call.subject}</strong></p><p>{call.notes}</p>",
                }, seeded=True, created_at=_iso(when), conn=c)
                store.associate("notes", hid, "contacts", pid, 202, conn=c)
            else:
                store.insert("calls", hid, {
                    "hs_timestamp": _iso(when), "hs_call_title": call.subject,
                    "hs_call_body": f"<p>{call.notes}</p>",
                    "hs_call_duration": str(call.minutes * 60_000),
                    "hs_call_direction": "OUTBOUND", "hs_call_status": "COMPLETED",
                    "hs_call_disposition": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
                }, seeded=True, created_at=_iso(when), conn=c)
                store.associate("calls", hid, "contacts", pid, 194, conn=c)
            if call.deal:
                kind = "notes" if call.as_note else "calls"
                store.associate(kind, hid, "deals", hs["deal:" + call.deal],
                                214 if call.as_note else 206, conn=c)
    from plugin.sandbox.hubspot_api import DEFAULT_CUSTOM

    store.set_meta("hs_custom_properties", json.dumps(DEFAULT_CUSTOM))
    store.set_meta("seeded_at", _iso(now))


def today_utc() -> date:
    return datetime.now(UTC).date()


def describe_counts(store: Store) -> dict[str, Any]:
    objs = ("Account", "Contact", "Lead", "Opportunity", "Task", "companies", "contacts",
            "deals", "calls", "notes")
    return {o: len(store.all(o)) for o in objs}
