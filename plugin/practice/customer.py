"""Rehearse this customer: a scenario whose buyer is the person on a CRM record.

Built from the record's ``CustomerContext`` (person, company, deals, activities and their
highlights): the buyer has the customer's name, role, company and industry, raises the
objections their history shows (in their own words where the notes have them), and brings up
the open questions of the last calls. The product facts, price list and discount policy come
from the shipped scenario closest to what the customer raised, so the feedback still checks
claims against a brief the rep can see.
"""

from __future__ import annotations

import re
from typing import Any

from plugin.crm.highlights import TOPICS, strip_html
from plugin.practice.scenarios import Scenario, library

# What the customer raised -> the shipped scenario whose objections train it.
TEMPLATE_FOR_TOPIC = {"budget": "procurement-price", "competitor": "competitor-comparison",
                      "timeline": "timing-stall", "authority": "cfo-discovery"}
OBJECTION_TYPES = {"budget": "price", "competitor": "competitor", "timeline": "timing",
                   "authority": "authority"}
_SENT = re.compile(r"(?<=[.!?])\s+")


def _ctx(context: Any) -> dict[str, Any]:
    return context.to_dict() if hasattr(context, "to_dict") else dict(context or {})


def raised(context: Any) -> list[dict[str, str]]:
    """The customer's own lines from the record's activities, newest first:
    ``{"topic", "text", "date"}`` for objections (budget, timeline, authority, competitor)
    and ``{"topic": "question", …}`` for questions they asked."""
    ctx = _ctx(context)
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for act in ctx.get("activities") or []:
        notes = strip_html(str(act.get("notes") or ""))
        for sentence in _SENT.split(notes):
            text = sentence.strip()
            if len(text) < 8 or text.lower() in seen:
                continue
            topic = "question" if text.endswith("?") else next(
                (t for t, pattern, _ in TOPICS if t in OBJECTION_TYPES and pattern.search(text)),
                None)
            if topic is None and re.search(r"\b(competitor|vs\.?|versus|cheaper than)\b", text,
                                           re.I):
                topic = "competitor"
            if topic:
                seen.add(text.lower())
                out.append({"topic": topic, "text": text[:300],
                            "date": str(act.get("date") or "")[:10]})
    return out


def customer_scenario_id(record_id: str) -> str:
    """The scenario id of the customer on CRM record ``record_id`` (also how privacy tools
    find the practice sessions rehearsing that customer)."""
    record = re.sub(r"[^a-z0-9]+", "-", str(record_id or "record").lower()).strip("-")
    return f"customer-{record}"[:64].rstrip("-")


def customer_scenario(context: Any, base: Scenario | None = None) -> Scenario:
    """A scenario whose buyer is this customer (see the module docstring)."""
    ctx = _ctx(context)
    person = ctx.get("person") or {}
    company = ctx.get("company") or {}
    lines = raised(ctx)
    topics = [r["topic"] for r in lines if r["topic"] != "question"]
    if base is None:
        first = next((t for t in topics if t in TEMPLATE_FOR_TOPIC), "authority")
        base = library()[TEMPLATE_FOR_TOPIC[first]]
    data = base.model_dump()
    name = str(person.get("name") or company.get("name") or "the customer").strip()
    role = str(person.get("title") or "Buyer").strip()
    org = str(company.get("name") or "their company").strip()
    industry = str(company.get("industry") or "").strip()
    data["id"] = customer_scenario_id(str(ctx.get("record_id") or ""))
    data["title"] = f"Rehearse {name} ({org})"
    data["summary"] = (f"{name}, {role} at {org}, raising what came up in their history"
                       + (f" ({', '.join(dict.fromkeys(topics))})" if topics else "") + ".")
    persona = data["persona"]
    persona.update(name=name, role=role, company=org, industry=industry)
    facts = list(persona.get("facts") or [])
    for deal in ctx.get("deals") or []:
        if deal.get("name"):
            stage = deal.get("stage") or "an early stage"
            facts.append({"about": ["deal", "stage", "where are we", "timeline"],
                          "answer": f"{deal['name']} is at {stage}."})
    persona["facts"] = facts
    # The customer's own words open the objections their history raised.
    used: set[int] = set()
    for i, obj in enumerate(data["objections"]):
        match = next((r for r in lines if r["topic"] in OBJECTION_TYPES
                      and OBJECTION_TYPES[r["topic"]] == obj["type"] and id(r) not in used), None)
        if match is None and i == 0:
            match = next((r for r in lines if r["topic"] in OBJECTION_TYPES
                          and id(r) not in used), None)
        if match is not None:
            used.add(id(match))
            obj["phrasings"] = [_as_buyer(match["text"]), *obj["phrasings"]][:4]
    questions = [r["text"] for r in lines if r["topic"] == "question"][:2]
    competitors = [c for r in lines if r["topic"] == "competitor"
                   for c in re.findall(r"\b[A-Z][a-zA-Z]+\b", r["text"])][:3]
    data["competitors"] = list(dict.fromkeys([*data.get("competitors", []), *competitors]))
    opening = f"{name} here, {role} at {org}."
    if questions:
        opening += " Last time I asked: " + " ".join(questions) + " I never got a clear answer."
    data["opening"] = opening
    return Scenario.model_validate(data)


def _as_buyer(note: str) -> str:
    """A CRM note as the customer would say it ("Customer said the price is high" -> "The
    price is high.")."""
    text = re.sub(r"^(?:the )?(?:customer|client|prospect|buyer|they|he|she)\s+"
                  r"(?:said|says|mentioned|raised|noted|asked|felt)\s+(?:that\s+)?", "", note,
                  flags=re.I).strip()
    text = text[0].upper() + text[1:] if text else note
    return text if text[-1:] in ".?!" else text + "."
