"""Fixing speakers after a call: swap rep and customer or set single turns, stored and sent to
analysis again; bad requests are precise 4xx, other tenants' calls are 404, live calls 409."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.db import db
from plugin.models import Call, Turn


def _call(tenant_id: str, status: str = "ended", owner: str = "rep-fix") -> str:
    """A stored call of ``owner`` (the rep whose session fixes it in these tests)."""
    from plugin.tenancy import ensure_tenant, ensure_user

    with db.session_scope() as s:
        ensure_tenant(s, tenant_id, "demo" if tenant_id == "demo" else "salesforce")
        user = ensure_user(s, tenant_id, owner if tenant_id == "demo" else "their-rep")
        call = Call(tenant_id=tenant_id, user_id=user.id, source="recording", status=status,
                    title="Mono call")
        s.add(call)
        s.flush()
        for seq, (speaker, text) in enumerate([("rep", "Hi, thanks for your time."),
                                               ("rep", "The price is too high for us."),
                                               ("customer", "What budget do you have?")]):
            s.add(Turn(tenant_id=tenant_id, call_id=call.id, seq=seq, speaker=speaker,
                       text=text, start_ms=seq * 3000, end_ms=seq * 3000 + 2500))
        return call.id


def _speakers(call_id: str) -> list[str]:
    from sqlalchemy import select

    with db.session_scope() as s:
        return [t.speaker for t in s.scalars(select(Turn).where(Turn.call_id == call_id)
                                             .order_by(Turn.seq))]


def test_swap_exchanges_rep_and_customer_on_every_turn(client: Any, tenants: Any) -> None:
    headers = tenants.headers(tenants.identity("demo", "rep-fix"))
    call_id = _call("demo")
    resp = client.post(f"/api/v1/calls/{call_id}/speakers", json={"swap": True},
                       headers=headers)
    assert resp.status_code == 202, resp.json
    assert resp.json["changed"] == 3 and resp.json["reanalysing"] is True
    assert [t["speaker"] for t in resp.json["turns"]] == ["customer", "customer", "rep"]
    assert _speakers(call_id) == ["customer", "customer", "rep"]


def test_single_turns_are_set_and_unchanged_ones_need_no_new_analysis(
        client: Any, tenants: Any) -> None:
    headers = tenants.headers(tenants.identity("demo", "rep-fix"))
    call_id = _call("demo")
    url = f"/api/v1/calls/{call_id}/speakers"
    resp = client.post(url, json={"turns": {"1": "customer"}}, headers=headers)
    assert resp.status_code == 202 and resp.json["changed"] == 1
    assert _speakers(call_id) == ["rep", "customer", "customer"]
    again = client.post(url, json={"turns": {"1": "customer"}}, headers=headers)
    assert again.status_code == 202
    assert again.json["changed"] == 0 and again.json["reanalysing"] is False


@pytest.mark.parametrize(("body", "status", "code"), [
    (None, 400, "bad_request"), ({}, 400, "bad_request"), ({"swap": "yes"}, 400, "bad_request"),
    ({"swap": True, "turns": {"0": "rep"}}, 400, "bad_request"),
    ({"turns": {"0": "manager"}}, 400, "bad_turns"), ({"turns": {"x": "rep"}}, 400, "bad_turns"),
    ({"turns": []}, 400, "bad_turns"), ({"turns": {"9": "rep"}}, 404, "unknown_turn"),
])
def test_bad_fixes_are_refused_precisely(client: Any, tenants: Any, body: Any, status: int,
                                         code: str) -> None:
    headers = tenants.headers(tenants.identity("demo", "rep-fix"))
    call_id = _call("demo")
    resp = client.post(f"/api/v1/calls/{call_id}/speakers", json=body, headers=headers)
    assert resp.status_code == status and resp.json["error"]["code"] == code
    assert _speakers(call_id) == ["rep", "rep", "customer"]


def test_another_tenants_call_is_404_and_a_live_call_409(client: Any, tenants: Any) -> None:
    headers = tenants.headers(tenants.identity("demo", "rep-fix"))
    tenants.identity("sf:00DOTHER", "their-rep")
    theirs, live = _call("sf:00DOTHER"), _call("demo", status="live")
    resp = client.post(f"/api/v1/calls/{theirs}/speakers", json={"swap": True}, headers=headers)
    assert resp.status_code == 404
    assert _speakers(theirs) == ["rep", "rep", "customer"]
    resp = client.post(f"/api/v1/calls/{live}/speakers", json={"swap": True}, headers=headers)
    assert resp.status_code == 409 and resp.json["error"]["code"] == "call_live"
    anonymous = client.post(f"/api/v1/calls/{live}/speakers", json={"swap": True})
    assert anonymous.status_code == 401


@pytest.mark.browser
def test_a_rep_swaps_speakers_on_the_report_page(app: Any, tenants: Any,
                                                 tmp_path: Any) -> None:
    from tests.support import chromium, serve_wsgi

    ident = tenants.identity("demo", "rep-fix")
    token = tenants.token(ident)
    call_id = _call("demo")
    with serve_wsgi(app) as web, chromium(viewport={"width": 1100, "height": 800}) as context:
        page = context.new_page()
        page.goto(f"{web}/panel/calls/{call_id}?t={token}")
        page.click("details.transcript summary")
        assert page.locator("button.speaker").all_text_contents() == ["rep", "rep", "customer"]
        # the second turn was the customer: one click on its name
        page.locator('button.speaker[data-seq="1"]').click()
        page.wait_for_function("document.querySelector('#speaker-fix-status').textContent"
                               ".includes('changed')")
        page.click("#swap-speakers")
        page.wait_for_function("document.querySelector('button.speaker[data-seq=\"0\"]')"
                               ".textContent === 'customer'")
        assert page.locator("button.speaker").all_text_contents() == [
            "customer", "rep", "rep"]
        page.screenshot(path=str(tmp_path / "speaker-fix.png"), full_page=True)
    assert _speakers(call_id) == ["customer", "rep", "rep"]
