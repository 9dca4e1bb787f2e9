"""The audit log of admin actions (one helper, listed and exported as CSV, walled), and the
recording-consent policy on uploads and on the panel pages."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from plugin.coach.playbook import DEFAULT_PLAYBOOK_PATH
from plugin.db import db
from plugin.models import Call, CrmConnection, Recording, Tenant
from plugin.practice.scenarios import SCENARIO_DIR

from .conftest import DEMO_WAV, admin_of

HTML = {"Accept": "text/html"}


def _events(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    resp = client.get("/api/v1/privacy/audit", headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["events"]


def test_admin_actions_are_audited_with_who_what_and_when(client: Any, tenants: Any) -> None:
    tenant = "sf:00DAUDIT"
    admin = admin_of(tenant)
    h = tenants.headers(admin)
    with db.session_scope() as s:
        s.add(CrmConnection(tenant_id=tenant, kind="salesforce", access_token_enc="x"))
    # settings, playbook upload and choice, practice authoring, CRM disconnect
    assert client.put("/api/v1/admin/settings", json={"retention_audio_days": 45,
                                                      "recording_consent": "two_party"},
                      headers=h).status_code == 200
    client.put("/api/v1/admin/settings", json={"retention_audio_days": 45}, headers=h)  # no-op
    up = client.post("/admin/playbooks", headers=h, data={
        "yaml_text": DEFAULT_PLAYBOOK_PATH.read_text(), "name": "Ours"})
    assert up.status_code == 201
    assert client.post("/admin/playbooks/active", json={"playbook_id": ""},
                       headers=h).status_code == 200
    data = yaml.safe_load((SCENARIO_DIR / "renewal-at-risk.yaml").read_text())
    data["id"], data["title"] = "acme-audit", "Acme audit"
    assert client.post("/api/v1/practice/admin/scenarios", json={"yaml": yaml.safe_dump(data)},
                       headers=h).status_code == 201
    rep = tenants.identity(tenant, "005AUDREP")
    assigned = client.post("/api/v1/practice/admin/assignments", headers=h, json={
        "scenario_id": "acme-audit", "user_ids": [rep.user_id]})
    assert assigned.status_code == 201, assigned.get_json()
    assert client.delete("/api/v1/practice/admin/scenarios/acme-audit",
                         headers=h).status_code == 200
    assert client.post("/admin/disconnect/salesforce", headers=h).status_code == 200
    events = _events(client, h)
    actions = [e["action"] for e in reversed(events)]
    assert actions == ["settings.change", "playbook.upload", "playbook.activate",
                       "practice.scenario_save", "practice.assign",
                       "practice.scenario_delete", "crm.disconnect"]
    change = events[-1]
    assert change["actor"] == "005ADMIN" and change["actor_name"] == "Ada Admin"
    assert change["details"]["changes"] == {
        "retention_audio_days": {"from": 90, "to": 45},
        "recording_consent": {"from": "notify", "to": "two_party"}}
    assert change["at"] and events[0]["target"] == "crm:salesforce"
    assert events[2]["details"]["user_ids"] == [rep.user_id]
    # the CSV export holds the same events, and another tenant's admin sees none of them
    resp = client.get("/api/v1/privacy/audit?format=csv", headers=h)
    assert resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [r["action"] for r in rows] == [e["action"] for e in events]
    other = tenants.headers(admin_of("sf:00DAUDIT2"))
    assert _events(client, other) == []
    assert client.get("/api/v1/privacy/audit", headers=tenants.headers(rep)).status_code == 403
    # paging back from an id
    page = client.get(f"/api/v1/privacy/audit?limit=2&before={events[1]['id']}",
                      headers=h).get_json()["events"]
    assert [e["id"] for e in page] == [events[2]["id"], events[3]["id"]]


def _upload(client: Any, headers: dict[str, str], **form: str) -> Any:
    with DEMO_WAV.open("rb") as f:
        return client.post("/api/v1/recordings", headers=headers,
                           data={"file": (f, "call.wav"), **form},
                           content_type="multipart/form-data")


def test_two_party_consent_refuses_an_upload_without_it_and_stores_nothing(
        app: Any, client: Any, tenants: Any) -> None:
    tenant = "sf:00DCONSENT"
    rep = tenants.identity(tenant, "005C")
    with db.session_scope() as s:
        s.get(Tenant, tenant).settings = {"recording_consent": "two_party"}
    folder: Path = app.config["SETTINGS"].instance_path / "recordings" / "sf_00DCONSENT"
    before = set(folder.iterdir()) if folder.exists() else set()
    for form in ({}, {"consent": "notified"}, {"consent": "yes"}):
        resp = _upload(client, tenants.headers(rep), **form)
        assert resp.status_code == 422, resp.get_data(as_text=True)
        assert resp.get_json()["error"]["code"] == "consent_required"
    assert (set(folder.iterdir()) if folder.exists() else set()) == before
    with db.session_scope() as s:
        assert s.scalar(select(Call).where(Call.tenant_id == tenant)) is None
    ok = _upload(client, tenants.headers(rep), consent="obtained")
    assert ok.status_code == 202, ok.get_json()
    with db.session_scope() as s:
        call = s.get(Call, ok.get_json()["call_id"])
        assert (call.consent_policy, call.consent) == ("two_party", "obtained")
        assert s.scalar(select(Recording).where(Recording.tenant_id == tenant)) is not None
    # the calls page asks for it; the live page shows the two-party wording
    token = tenants.token(rep)
    page = client.get(f"/panel/calls?t={token}", headers=HTML).get_data(as_text=True)
    assert 'id="upload-consent"' in page and 'value="obtained"' in page
    live = client.get(f"/panel/live?t={token}", headers=HTML).get_data(as_text=True)
    assert 'data-policy="two_party"' in live and "Every party must agree" in live


def test_notify_and_none_policies(client: Any, tenants: Any) -> None:
    tenant = "sf:00DNOTIFY"
    rep = tenants.identity(tenant, "005N")
    token = tenants.token(rep)
    live = client.get(f"/panel/live?t={token}", headers=HTML).get_data(as_text=True)
    assert 'data-policy="notify"' in live  # the default
    resp = _upload(client, tenants.headers(rep))
    assert resp.status_code == 202
    with db.session_scope() as s:
        call = s.get(Call, resp.get_json()["call_id"])
        assert (call.consent_policy, call.consent) == ("notify", "")
        s.get(Tenant, tenant).settings = {"recording_consent": "none"}
    live = client.get(f"/panel/live?t={token}", headers=HTML).get_data(as_text=True)
    assert 'data-policy="none" checked hidden' in live and "consent-text" not in live


def test_the_claimed_admin_of_an_org_is_an_audited_role_grant(app: Any) -> None:
    from plugin.admin_claim import claim_admin
    from plugin.models import AuditEvent
    from plugin.web.crm_common import bind_user

    with app.app_context(), db.session_scope() as s:
        first = bind_user(s, "sf:00DFIRST", "salesforce", "First Org", "005FIRST", "F", "")
        second = bind_user(s, "sf:00DFIRST", "salesforce", "First Org", "005SECOND", "S", "")
        assert (first.role, second.role) == ("rep", "rep")  # nobody is admin by being first
        claim_admin(s, "sf:00DFIRST", "005FIRST")
    with db.session_scope() as s:
        events = [(e.action, e.target, e.details) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == "sf:00DFIRST"))]
    assert events == [("role.grant", "user:005FIRST",
                       {"role": "admin", "reason": "claim-admin", "previous": "rep"})]
