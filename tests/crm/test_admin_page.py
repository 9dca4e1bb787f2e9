"""The admin page: connections, disconnect, and playbook upload with line-precise errors."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import select

from plugin.coach.playbook import DEFAULT_PLAYBOOK_PATH
from plugin.db import db
from plugin.models import CrmConnection, Playbook, Tenant
from plugin.security import Identity
from plugin.tenancy import ensure_tenant, ensure_user

HTML = {"Accept": "text/html"}


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"salesforce_client_id": "sf-client", "salesforce_client_secret": "sf-secret",
            "hubspot_client_id": "hs-client", "hubspot_client_secret": "hs-secret"}


def admin_of(tenant_id: str, role: str = "admin", user: str = "005ADM") -> Identity:
    with db.session_scope() as s:
        ensure_tenant(s, tenant_id, "salesforce")
        u = ensure_user(s, tenant_id, user, name="Ada Admin", role=role)
        return Identity(tenant_id=tenant_id, user_id=u.id, crm_user_id=user, name=u.name,
                        role=role)


def test_admin_page_lists_the_connection_and_its_actions(client: Any, app: Any,
                                                        tenants: Any) -> None:
    ident = admin_of("sf:00DADMIN1")
    with db.session_scope() as s:
        s.add(CrmConnection(tenant_id=ident.tenant_id, kind="salesforce",
                            instance_url="https://acme.my.salesforce.com",
                            access_token_enc=app.extensions["salescoach.secrets"].encrypt("t"),
                            connected_by=ident.user_id))
    token = tenants.token(ident)
    html = client.get(f"/admin?t={token}", headers=HTML).get_data(as_text=True)
    assert "sf:00DADMIN1" in html and "https://acme.my.salesforce.com" in html
    assert 'class="status connected"' in html and "Ada Admin" in html
    assert f"/admin/disconnect/salesforce?t={token}" in html
    assert f"/admin/connect/salesforce?t={token}" in html
    assert "/admin/connect/hubspot" not in html  # a Salesforce org connects Salesforce only
    assert f"/admin/outbox?t={token}" in html
    api = client.get("/api/v1/admin/connections", headers=tenants.headers(ident)).get_json()
    assert api["connections"][0]["status"] == "connected"


def test_admin_page_refuses_reps_and_missing_sessions(client: Any, tenants: Any) -> None:
    rep = admin_of("sf:00DADMIN2", role="rep", user="005REP")
    resp = client.get(f"/admin?t={tenants.token(rep)}", headers=HTML)
    assert resp.status_code == 403 and "for admins" in resp.get_data(as_text=True)
    assert client.get("/admin", headers=HTML).status_code == 401
    assert client.get("/api/v1/admin/connections").status_code == 401


def test_disconnect_deletes_the_tokens(client: Any, app: Any, tenants: Any) -> None:
    ident = admin_of("sf:00DADMIN3")
    with db.session_scope() as s:
        s.add(CrmConnection(tenant_id=ident.tenant_id, kind="salesforce",
                            access_token_enc="enc", refresh_token_enc="enc2"))
    resp = client.post("/admin/disconnect/salesforce", headers=tenants.headers(ident))
    assert resp.status_code == 200 and resp.get_json()["status"] == "disconnected"
    with db.session_scope() as s:
        conn = s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == ident.tenant_id))
        assert conn is not None and conn.status == "disconnected"
        assert conn.access_token_enc == "" and conn.refresh_token_enc == ""
    assert client.post("/admin/disconnect/hubspot",
                       headers=tenants.headers(ident)).status_code == 404


def test_malformed_playbook_is_rejected_with_its_line(client: Any, tenants: Any) -> None:
    ident = admin_of("sf:00DADMIN4")
    bad = "name: Mine\nthresholds:\n  monologue_nudge_s: -5\n"
    resp = client.post(f"/admin/playbooks?t={tenants.token(ident)}", headers=HTML,
                       data={"yaml_text": bad, "name": "Mine"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert 'id="upload-error" data-line="3"' in html and "line 3" in html
    assert "monologue_nudge_s" in html
    api = client.post("/admin/playbooks", headers=tenants.headers(ident),
                      data={"yaml_text": "name: [unclosed\n"})
    assert api.status_code == 400
    assert api.get_json()["error"]["message"].startswith("line ")
    assert "invalid YAML" in api.get_json()["error"]["message"]
    with db.session_scope() as s:
        assert s.scalar(select(Playbook).where(Playbook.tenant_id == ident.tenant_id)) is None


def test_valid_playbook_upload_becomes_active_and_can_be_switched_back(
        client: Any, tenants: Any) -> None:
    ident = admin_of("sf:00DADMIN5")
    good = DEFAULT_PLAYBOOK_PATH.read_text().replace("monologue_nudge_s: 75",
                                                     "monologue_nudge_s: 45")
    resp = client.post(f"/admin/playbooks?t={tenants.token(ident)}",
                       data={"playbook": (io.BytesIO(good.encode()), "tight.yaml")},
                       content_type="multipart/form-data", headers=HTML)
    assert resp.status_code == 303
    listed = client.get("/api/v1/admin/playbooks", headers=tenants.headers(ident)).get_json()
    assert [p["name"] for p in listed["playbooks"]] == ["tight"]
    assert listed["playbooks"][0]["active"] and listed["active"] == listed["playbooks"][0]["id"]
    page = client.get(f"/admin?t={tenants.token(ident)}", headers=HTML).get_data(as_text=True)
    assert "tight (#" in page
    resp = client.post("/admin/playbooks/active", headers=tenants.headers(ident),
                       data={"playbook_id": ""})
    assert resp.get_json()["active"] is None


def test_admin_cannot_activate_another_tenants_playbook(client: Any, tenants: Any) -> None:
    other = admin_of("sf:00DOTHER6")
    with db.session_scope() as s:
        pb = Playbook(tenant_id=other.tenant_id, name="theirs", yaml_text="name: x\n")
        s.add(pb)
        s.flush()
        pb_id = pb.id
    mine = admin_of("sf:00DADMIN6")
    resp = client.post("/admin/playbooks/active", headers=tenants.headers(mine),
                       data={"playbook_id": str(pb_id)})
    assert resp.status_code == 404
    with db.session_scope() as s:
        tenant = s.get(Tenant, mine.tenant_id)
        assert tenant is not None and tenant.playbook_id is None


def test_playbooks_download_as_yaml_only_within_the_tenant(client: Any, tenants: Any) -> None:
    mine = admin_of("sf:00DADMIN7")
    other = admin_of("sf:00DOTHER7")
    with db.session_scope() as s:
        pb = Playbook(tenant_id=other.tenant_id, name="theirs", yaml_text="name: secret\n")
        s.add(pb)
        s.flush()
        theirs = pb.id
    default = client.get("/admin/playbooks/default.yaml", headers=tenants.headers(mine))
    assert default.status_code == 200 and default.mimetype == "application/yaml"
    assert default.get_data(as_text=True) == DEFAULT_PLAYBOOK_PATH.read_text()
    assert client.get(f"/admin/playbooks/{theirs}.yaml",
                      headers=tenants.headers(mine)).status_code == 404
    assert client.get(f"/admin/playbooks/{theirs}.yaml",
                      headers=tenants.headers(other)).get_data(as_text=True) == "name: secret\n"
