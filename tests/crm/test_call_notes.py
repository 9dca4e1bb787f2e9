"""The CRM activity is customer-facing call notes (summary, the customer's own words, next
steps with owner and date, open questions, report link); coaching stays in Sales Coach
unless the tenant asks for it; a call keeps one activity, updated in place. Written through
the outbox to the sandbox's Salesforce and HubSpot APIs over real HTTPS."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from plugin.crm.cache import CONTEXT_CACHE
from plugin.db import db
from plugin.models import Call, Report, Tenant
from plugin.pipeline import outbox, stages
from plugin.reports.notes import call_notes
from plugin.tenancy import ensure_user

STARTED = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a Tuesday
REPORT: dict[str, Any] = {
    "version": 1,
    "call": {"title": "Pricing follow-up", "started_at": STARTED.isoformat(),
             "duration_ms": 754_000, "turns": 24},
    "summary": "13-minute call; rep talked 71%; 0 questions asked (0 open); objections: price; "
               "no next step agreed. Overall score 38/100.",
    "scores": {"overall": 38, "discovery": 12, "listening": 30},
    "tips": ["You asked 0 questions: open with discovery before pitching."],
    "objections": [{"label": "price", "at_ms": 151_000, "turn_seq": 7,
                    "text": "Honestly, the price is way too expensive for our budget this year.",
                    "response": "We are the best on the market.", "acknowledged": False}],
    "moments": [{"kind": "competitor", "label": "Gong", "text": "We also looked at Gong.",
                 "at_ms": 200_000}],
    "next_steps": [{"speaker": "rep", "turn_seq": 20,
                    "text": "I'll send the revised proposal by Friday."}],
    "action_items": [{"owner": "rep", "turn_seq": 20,
                      "text": "I'll send the revised proposal by Friday."},
                     {"owner": "customer", "turn_seq": 22,
                      "text": "I will check the budget with Tom next week."}],
    "unanswered_questions": [{"turn_seq": 9, "text": "Do you support SSO through Okta?"}],
    "questions": [],
}
COACHING = ("score", "Score", "0 questions", "You asked", "talked 71%", "Coaching")
KINDS = ["salesforce", "hubspot"]


def _body(act: dict[str, Any]) -> str:
    data = act["data"]
    return str(data.get("Description") or data.get("hs_call_body") or "")


def _subject(act: dict[str, Any]) -> str:
    return str(act["data"].get("Subject") or act["data"].get("hs_call_title") or "")


def test_notes_say_what_the_customer_raised_and_agreed_without_coaching() -> None:
    notes = call_notes(REPORT, "https://coach.example/panel/calls/c1?s=x", rep="Dana Rep",
                       customer="Maria Chen")
    assert notes.subject == "Call notes: Pricing follow-up"
    text = notes.text
    assert "12:34 call with Maria Chen on 1 Dec 2026" in text
    assert "The customer raised price." in text and "Competitors mentioned: Gong." in text
    assert '"Honestly, the price is way too expensive for our budget this year."' in text
    # next steps with owner and date, the duplicate action item folded into its step
    assert "- I'll send the revised proposal by Friday. (owner: Dana Rep, by Fri 4 Dec)" in text
    assert "- I will check the budget with Tom next week. (owner: Maria Chen, by Mon 7 Dec)" \
        in text
    assert text.count("revised proposal") == 1
    assert 'Questions left open:\n- "Do you support SSO through Okta?"' in text
    assert text.endswith("Full report (Sales Coach): https://coach.example/panel/calls/c1?s=x")
    for word in COACHING:
        assert word not in text and word not in notes.html, word
    assert "<li>I&#x27;ll send the revised proposal by Friday. (owner: Dana Rep, by Fri 4 Dec)" \
        "</li>" in notes.html


def test_a_call_without_agreed_steps_says_so_honestly() -> None:
    bare = {**REPORT, "next_steps": [], "action_items": []}
    text = call_notes(bare).text
    assert "No next step was agreed." in text and "None agreed on this call." in text
    assert "Agreed a next step" not in text


def test_the_tenant_setting_adds_scores_and_coaching() -> None:
    text = call_notes(REPORT, include_coaching=True).text
    assert "Coaching scores (Sales Coach):\n- Overall: 38" in text
    assert "You asked 0 questions" in text and "Overall score 38/100" in text


@pytest.fixture
def written(app: Any, sandbox: Any) -> Any:
    """Make a call with a stored report on a tenant connected to ``kind``; returns helpers."""
    sandbox.reset()
    CONTEXT_CACHE.clear()
    settings = app.config["SETTINGS"]

    def make(kind: str, include_coaching: bool = False) -> tuple[str, str, str]:
        tenant = sandbox.connect(settings, kind)
        person = sandbox.person("maria")
        rid, rtype = (person["sf_id"], person["sf_type"]) if kind == "salesforce" else (
            person["hs_id"], "contact")
        with db.session_scope() as s:
            user = ensure_user(s, tenant, "rep-7", name="Dana Rep")
            row = s.get(Tenant, tenant)
            assert row is not None
            row.settings = {"crm_notes_include_coaching": include_coaching}
            call = Call(tenant_id=tenant, user_id=user.id, record_id=rid, record_type=rtype,
                        source="panel", status="analysed", title="Pricing follow-up",
                        started_at=STARTED)
            s.add(call)
            s.flush()
            call_id = call.id
            s.add(Report(tenant_id=tenant, call_id=call_id, version=1, data=_report(
                tenant, call_id, user.id, rid, rtype, 1)))
        return tenant, call_id, rid

    yield make
    sandbox.reset()


def _report(tenant: str, call_id: str, user_id: int, rid: str, rtype: str,
            version: int) -> dict[str, Any]:
    data = copy.deepcopy(REPORT)
    data["version"] = version
    data["call"].update(id=call_id, tenant_id=tenant, user_id=user_id, record_id=rid,
                        record_type=rtype)
    return data


def _deliver(app: Any, call_id: str, version: int) -> outbox.Delivery:
    settings = app.config["SETTINGS"]
    item_id = stages.queue_writeback(call_id, version, settings)
    assert item_id is not None
    return outbox.deliver(item_id, settings, worker="test")


def _ours(sandbox: Any, kind: str, rid: str) -> list[dict[str, Any]]:
    acts = sandbox.activities(kind)
    if kind == "salesforce":
        return [a for a in acts if a["data"].get("WhoId") == rid]
    return [a for a in acts if rid in a["associations"]["contacts"]]


@pytest.mark.parametrize("kind", KINDS)
def test_the_written_activity_holds_customer_notes_and_no_coaching_by_default(
        app: Any, sandbox: Any, written: Any, kind: str) -> None:
    _tenant, call_id, rid = written(kind)
    delivery = _deliver(app, call_id, 1)
    assert delivery.outcome == "done", delivery
    acts = _ours(sandbox, kind, rid)
    assert len(acts) == 1 and acts[0]["id"] == delivery.crm_id
    body = _body(acts[0])
    assert "Maria Chen" in body and "owner: Dana Rep" in body
    assert "way too expensive for our budget" in body and "SSO through Okta" in body
    assert f"/panel/calls/{call_id}?s=" in body
    for word in COACHING:
        assert word not in body and word not in _subject(acts[0]), word


@pytest.mark.parametrize("kind", KINDS)
def test_a_tenant_can_add_the_coaching_to_its_notes(app: Any, sandbox: Any, written: Any,
                                                   kind: str) -> None:
    _tenant, call_id, rid = written(kind, include_coaching=True)
    assert _deliver(app, call_id, 1).outcome == "done"
    body = _body(_ours(sandbox, kind, rid)[0])
    assert "Coaching scores (Sales Coach)" in body and "You asked 0 questions" in body


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_report_version_updates_the_one_activity_in_place_exactly_once(
        app: Any, sandbox: Any, written: Any, kind: str) -> None:
    tenant, call_id, rid = written(kind)
    first = _deliver(app, call_id, 1)
    # when the call is analysed again with a different outcome (a next step now agreed)
    with db.session_scope() as s:
        call = s.get(Call, call_id)
        assert call is not None
        data = _report(tenant, call_id, int(call.user_id or 0), rid, call.record_type, 2)
        data["next_steps"] = [{"speaker": "customer", "text": "Let's book the security "
                               "review on Thursday."}]
        data["action_items"] = []
        s.add(Report(tenant_id=tenant, call_id=call_id, version=2, data=data))
    second = _deliver(app, call_id, 2)
    # then the same activity now says so; nothing was added
    assert second.outcome == "done" and second.crm_id == first.crm_id
    acts = _ours(sandbox, kind, rid)
    assert len(acts) == 1
    body = _body(acts[0])
    assert "security review on Thursday" in body and "revised proposal" not in body
    # a redelivery sends nothing, and the older version's notes never come back
    item_id = stages.queue_writeback(call_id, 2, app.config["SETTINGS"])
    assert item_id is not None
    assert outbox.deliver(item_id, app.config["SETTINGS"]).outcome == "already_done"
    assert "security review" in _body(_ours(sandbox, kind, rid)[0])


def test_settings_api_is_for_admins_and_checks_values(app: Any, client: Any,
                                                      tenants: Any) -> None:
    from plugin.security import Identity

    tenant = f"t-notes-{uuid.uuid4().hex[:6]}"
    rep = tenants.identity(tenant, "rep-1")
    admin = Identity(tenant_id=tenant, user_id=rep.user_id, crm_user_id="rep-1", name="A",
                     role="admin")
    assert client.get("/api/v1/admin/settings", headers=tenants.headers(rep)).status_code == 403
    got = client.get("/api/v1/admin/settings", headers=tenants.headers(admin)).get_json()
    assert got["settings"]["crm_notes_include_coaching"] is False  # beside the privacy ones
    resp = client.put("/api/v1/admin/settings", headers=tenants.headers(admin),
                      json={"crm_notes_include_coaching": True})
    assert resp.status_code == 200 and resp.get_json()["settings"][
        "crm_notes_include_coaching"] is True
    with db.session_scope() as s:
        row = s.get(Tenant, tenant)
        assert row is not None and row.settings["crm_notes_include_coaching"] is True
    for bad, code in [({"crm_notes_include_coaching": "yes"}, "invalid_setting"),
                      ({"colour": "red"}, "unknown_setting"), ([1], "invalid_request")]:
        resp = client.put("/api/v1/admin/settings", headers=tenants.headers(admin), json=bad)
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == code


@pytest.mark.parametrize("kind", KINDS)
def test_activities_written_with_coaching_are_rewritten_in_place_once(
        app: Any, sandbox: Any, written: Any, kind: str) -> None:
    tenant, call_id, rid = written(kind, include_coaching=True)
    first = _deliver(app, call_id, 1)
    assert "You asked 0 questions" in _body(_ours(sandbox, kind, rid)[0])
    # when the org turns coaching off and asks for its existing notes to be rewritten
    with db.session_scope() as s:
        row = s.get(Tenant, tenant)
        assert row is not None
        row.settings = {"crm_notes_include_coaching": False}
    settings = app.config["SETTINGS"]
    ids = stages.rewrite_notes(tenant, settings)
    assert len(ids) == 1
    assert outbox.deliver(ids[0], settings).crm_id == first.crm_id
    # then the same activity holds the customer notes only, and asking again sends nothing
    acts = _ours(sandbox, kind, rid)
    assert len(acts) == 1 and "You asked" not in _body(acts[0])
    assert "way too expensive" in _body(acts[0])
    assert stages.rewrite_notes(tenant, settings) == []


def test_the_rewrite_endpoint_is_for_admins(client: Any, tenants: Any) -> None:
    rep = tenants.identity(f"t-notes-{uuid.uuid4().hex[:6]}", "rep-1")
    resp = client.post("/api/v1/admin/crm-notes/rewrite", headers=tenants.headers(rep))
    assert resp.status_code == 403
