"""OAuth connection flows end to end against the CRM sandbox over TLS (authlib on our side)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import delete, select, update

from plugin.db import db
from plugin.models import CrmConnection, User
from plugin.sandbox.server import SandboxHandle, start_sandbox


@pytest.fixture(scope="module")
def instance_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance of its own, so this module's sandbox identity is not shared."""
    return tmp_path_factory.mktemp("oauth-instance")


@pytest.fixture(scope="module")
def crm_sandbox(instance_path: Path) -> Iterator[SandboxHandle]:
    handle = start_sandbox(instance_path)
    yield handle
    handle.stop()


def ident(sandbox: SandboxHandle) -> dict[str, str]:
    return dict(sandbox.state.ident)


def claim_code() -> str:
    """What ``salescoach tenant claim-code`` prints for the installer."""
    from plugin.admin_claim import new_claim_code

    with db.session_scope() as s:
        return new_claim_code(s)


def follow_to_callback(client: Any, sandbox: SandboxHandle, start: str,
                       claim: bool = True) -> Any:
    """Browser steps: our connect URL -> CRM consent (TLS, sandbox CA) -> our callback. An
    install without a session carries the installer's claim code unless ``claim`` is off."""
    if claim and "?t=" not in start:
        start += f"?claim={claim_code()}"
    resp = client.get(start)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    authorize = resp.headers["Location"]
    assert authorize.startswith(sandbox.base_url + "/")
    consent = requests.get(authorize, allow_redirects=False, verify=sandbox.ca_path, timeout=10)
    assert consent.status_code in (302, 303), consent.text
    back = urlsplit(consent.headers["Location"])
    assert back.path.startswith("/oauth/")
    return client.get(f"{back.path}?{back.query}", headers={"Accept": "text/html"})


def token_of(location: str, client: Any) -> str:
    """The session the callback's redirect opens: its one-time ``?code=`` exchanged."""
    code = parse_qs(urlsplit(location).query)["code"][0]
    resp = client.post("/api/v1/session/exchange", json={"code": code})
    assert resp.status_code == 200, resp.get_json()
    return str(resp.get_json()["token"])


def test_salesforce_connection_is_made_over_tls_and_tokens_are_encrypted_at_rest(
        client: Any, app: Any, crm_sandbox: SandboxHandle) -> None:
    done = follow_to_callback(client, crm_sandbox, "/admin/connect/salesforce")
    assert done.status_code == 303, done.get_data(as_text=True)
    org = ident(crm_sandbox)["sf_org_id"]
    tenant = f"sf:{org}"
    # the redirect carries a one-time code (no session in the URL), opened here once
    assert "t=" not in urlsplit(done.headers["Location"]).query
    page = client.get(done.headers["Location"], headers={"Accept": "text/html"})
    assert "Connected to Salesforce" in page.get_data(as_text=True)
    again = client.get(done.headers["Location"], headers={"Accept": "text/html"})
    assert again.status_code == 401
    token = re.search(r'/admin/settings\?t=([^"&]+)', page.get_data(as_text=True))
    assert token is not None
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.json["tenant_id"] == tenant and me.json["role"] == "admin"
    with db.session_scope() as s:
        conn = s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant))
        assert conn is not None and conn.status == "connected" and conn.kind == "salesforce"
        assert conn.instance_url == crm_sandbox.base_url
        stored, stored_refresh = conn.access_token_enc, conn.refresh_token_enc
    access = app.extensions["salescoach.secrets"].decrypt(stored)
    assert access and access not in stored  # the DB holds ciphertext, not the token
    assert app.extensions["salescoach.secrets"].decrypt(stored_refresh) not in stored_refresh
    # The token we stored is a live token of that org.
    who = requests.get(f"{crm_sandbox.base_url}/id/{org}/{ident(crm_sandbox)['sf_user_id']}",
                       headers={"Authorization": f"Bearer {access}"},
                       verify=crm_sandbox.ca_path, timeout=10)
    assert who.status_code == 200 and who.json()["organization_id"] == org


def test_hubspot_connection_learns_the_hub_id_from_the_token(
        client: Any, app: Any, crm_sandbox: SandboxHandle) -> None:
    done = follow_to_callback(client, crm_sandbox, "/admin/connect/hubspot")
    assert done.status_code == 303, done.get_data(as_text=True)
    tenant = f"hs:{ident(crm_sandbox)['hs_portal_id']}"
    with db.session_scope() as s:
        conn = s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant))
        assert conn is not None and conn.status == "connected"
        assert conn.expires_at is not None
        user = s.get(User, conn.connected_by)
        assert user is not None and user.crm_user_id == ident(crm_sandbox)["hs_user_id"]
        assert conn.access_token_enc
        access = app.extensions["salescoach.secrets"].decrypt(conn.access_token_enc)
        assert access not in conn.access_token_enc


def test_callback_with_forged_or_missing_state_is_refused(client: Any,
                                                          crm_sandbox: SandboxHandle) -> None:
    resp = client.get("/admin/connect/salesforce")
    consent = requests.get(resp.headers["Location"], allow_redirects=False,
                           verify=crm_sandbox.ca_path, timeout=10)
    query = parse_qs(urlsplit(consent.headers["Location"]).query)
    code = query["code"][0]
    forged = client.get(f"/oauth/salesforce/callback?code={code}&state=forged",
                        headers={"Accept": "application/json"})
    assert forged.status_code == 400 and forged.json["error"]["code"] == "invalid_state"
    missing = client.get(f"/oauth/salesforce/callback?code={code}",
                         headers={"Accept": "application/json"})
    assert missing.status_code == 400
    # State made for HubSpot cannot finish a Salesforce flow.
    hs_state = parse_qs(urlsplit(client.get("/admin/connect/hubspot").headers["Location"])
                        .query)["state"][0]
    crossed = client.get(f"/oauth/salesforce/callback?code={code}&state={hs_state}",
                         headers={"Accept": "application/json"})
    assert crossed.status_code == 400 and "another CRM" in crossed.json["error"]["message"]


def test_a_code_used_twice_is_refused_by_the_crm_and_reported(client: Any,
                                                              crm_sandbox: SandboxHandle) -> None:
    resp = client.get("/admin/connect/salesforce")
    consent = requests.get(resp.headers["Location"], allow_redirects=False,
                           verify=crm_sandbox.ca_path, timeout=10)
    back = urlsplit(consent.headers["Location"])
    first = client.get(f"{back.path}?{back.query}")
    assert first.status_code == 303
    # The browser's cookie nonce was used; a replay from elsewhere has no cookie to match.
    with client.session_transaction() as sess:
        sess.clear()
    again = client.get(f"{back.path}?{back.query}", headers={"Accept": "application/json"})
    assert again.status_code == 400 and again.json["error"]["code"] == "missing_state_cookie"


def test_a_callback_without_the_browsers_nonce_cookie_logs_nobody_in(
        app: Any, client: Any, crm_sandbox: SandboxHandle) -> None:
    # an attacker starts a flow in their browser and sends the victim the callback link
    resp = client.get(f"/admin/connect/salesforce?claim={claim_code()}")
    consent = requests.get(resp.headers["Location"], allow_redirects=False,
                           verify=crm_sandbox.ca_path, timeout=10)
    back = urlsplit(consent.headers["Location"])
    victim = app.test_client()  # no cookie from the start of the flow
    done = victim.get(f"{back.path}?{back.query}", headers={"Accept": "text/html"})
    assert done.status_code == 400 and "Location" not in done.headers
    assert "start again from the admin page in this browser" in done.get_data(as_text=True)


def test_the_first_user_of_a_new_org_is_not_admin_without_a_claim(
        client: Any, crm_sandbox: SandboxHandle) -> None:
    tenant = f"hs:{ident(crm_sandbox)['hs_portal_id']}"
    with db.session_scope() as s:  # the portal as new: no admin, no connection (shared DB)
        s.execute(update(User).where(User.tenant_id == tenant).values(role="rep"))
        s.execute(delete(CrmConnection).where(CrmConnection.tenant_id == tenant))
    done = follow_to_callback(client, crm_sandbox, "/admin/connect/hubspot", claim=False)
    assert done.status_code == 403 and "only an admin" in done.get_data(as_text=True)
    with db.session_scope() as s:
        user = s.scalar(select(User).where(User.tenant_id == tenant))
        assert user is not None and user.role == "rep"
        assert s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant)) is None
    # a used or made-up claim code does not help either
    code = claim_code()
    assert follow_to_callback(client, crm_sandbox, f"/admin/connect/hubspot?claim={code}",
                              claim=False).status_code == 303
    again = follow_to_callback(client, crm_sandbox, f"/admin/connect/hubspot?claim={code}",
                               claim=False)
    assert again.status_code == 303  # already admin now: the code is not needed any more
    with db.session_scope() as s:
        s.execute(update(User).where(User.tenant_id == tenant).values(role="rep"))
    reused = follow_to_callback(client, crm_sandbox, f"/admin/connect/hubspot?claim={code}",
                                claim=False)
    assert reused.status_code == 403 and "claim code" in reused.get_data(as_text=True)


def test_denied_consent_is_shown_with_the_crms_reason(client: Any) -> None:
    resp = client.get("/oauth/hubspot/callback?error=access_denied&error_description=User+said+no",
                      headers={"Accept": "text/html"})
    assert resp.status_code == 400 and "User said no" in resp.get_data(as_text=True)


def test_admin_of_another_org_cannot_attach_this_org(client: Any, tenants: Any,
                                                     crm_sandbox: SandboxHandle) -> None:
    from plugin.tenancy import ensure_tenant, ensure_user

    with db.session_scope() as s:
        ensure_tenant(s, "sf:00DELSEWHERE", "salesforce")
        user = ensure_user(s, "sf:00DELSEWHERE", "005ELSE", role="admin")
        uid = user.id
    from plugin.security import Identity

    other = Identity(tenant_id="sf:00DELSEWHERE", user_id=uid, crm_user_id="005ELSE",
                     role="admin")
    done = follow_to_callback(client, crm_sandbox,
                              f"/admin/connect/salesforce?t={tenants.token(other)}")
    assert done.status_code == 409
    assert "sf:00DELSEWHERE" in done.get_data(as_text=True)


def test_reps_cannot_start_a_connection(client: Any, tenants: Any) -> None:
    rep = tenants.identity("sf:00DREPONLY", "005REP")
    resp = client.get(f"/admin/connect/salesforce?t={tenants.token(rep)}")
    assert resp.status_code == 403


def test_disconnect_after_connect_stops_widget_context_saying_connected(
        client: Any, app: Any, crm_sandbox: SandboxHandle) -> None:
    done = follow_to_callback(client, crm_sandbox, "/admin/connect/hubspot")
    token = token_of(done.headers["Location"], client)
    resp = client.post(f"/admin/disconnect/hubspot?t={token}", headers={"Accept": "text/html"})
    assert resp.status_code == 303
    tenant = f"hs:{ident(crm_sandbox)['hs_portal_id']}"
    with db.session_scope() as s:
        conn = s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant))
        assert conn is not None and conn.status == "disconnected" and not conn.access_token_enc


def salesforce_token(secret: str, tamper: bool = False) -> dict[str, Any]:
    import base64
    import hashlib
    import hmac

    id_url = "https://login.example.com/id/00D000000000001AAA/005000000000001AAA"
    issued = "1764000000000"
    sig = base64.b64encode(hmac.new(secret.encode(), (id_url + issued).encode(),
                                    hashlib.sha256).digest()).decode()
    if tamper:
        id_url = id_url.replace("00D000000000001AAA", "00D000000000002AAA")
    return {"access_token": "a", "refresh_token": "r", "id": id_url, "issued_at": issued,
            "signature": sig, "instance_url": "https://acme.my.salesforce.com"}


def test_salesforce_identity_url_is_checked_against_the_token_signature() -> None:
    from plugin.web.crm_common import CrmApp
    from plugin.web.crm_oauth import OAuthFlowError, _salesforce_grant

    app = CrmApp("salesforce", "id", "secret", "", "", "", True, "settings")
    grant = _salesforce_grant(salesforce_token("secret"), app)
    assert (grant.external_id, grant.crm_user_id) == ("00D000000000001AAA", "005000000000001AAA")
    with pytest.raises(OAuthFlowError, match="signature does not match"):
        _salesforce_grant(salesforce_token("secret", tamper=True), app)
    no_https = {**salesforce_token("secret"), "instance_url": "http://evil.example"}
    with pytest.raises(OAuthFlowError, match="https instance_url"):
        _salesforce_grant(no_https, app)
