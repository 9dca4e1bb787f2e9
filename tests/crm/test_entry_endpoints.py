"""The CRM entry points over HTTP: canvas, Apex callout and HubSpot card, and tenant walls."""

from __future__ import annotations

import json
import re
import time
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from plugin.crm_auth import sign_apex_callout, sign_canvas_request, sign_hubspot_v3
from plugin.db import db
from plugin.models import (
    Call,
    CrmConnection,
    Nudge,
    OutboxItem,
    Recording,
    Report,
    User,
)

SF_SECRET = "sf-consumer-secret"
HS_SECRET = "hs-client-secret"
BASE = "https://coach.example.test"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"salesforce_client_id": "sf-client", "salesforce_client_secret": SF_SECRET,
            "hubspot_client_id": "hs-client", "hubspot_client_secret": HS_SECRET,
            "public_base_url": BASE}


def canvas_envelope(org: str = "00DCANVAS1", user: str = "005U1", record: str = "003R1",
                    **over: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "algorithm": "HMACSHA256", "issuedAt": int(time.time()), "userId": user,
        "client": {"instanceUrl": "https://example.my.salesforce.com", "oauthToken": "x"},
        "context": {
            "user": {"userId": user, "fullName": "Casey Canvas", "email": "casey@example.com"},
            "organization": {"organizationId": org, "name": "Canvas Org"},
            "environment": {"record": {"Id": record, "attributes": {"type": "Contact"}},
                            "parameters": {}},
        },
    }
    env.update(over)
    return env


def token_of(url: str, client: Any = None) -> str:
    """The session a panel URL opens: its ``?t=``, or its one-time ``?code=`` exchanged."""
    query = parse_qs(urlsplit(url).query)
    if "t" in query:
        return query["t"][0]
    resp = client.post("/api/v1/session/exchange", json={"code": query["code"][0]})
    assert resp.status_code == 200, resp.get_json()
    return str(resp.get_json()["token"])


def me(client: Any, token: str) -> dict[str, Any]:
    resp = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_json()
    return dict(resp.get_json())


def connect(tenant_id: str, kind: str, app: Any) -> None:
    box = app.extensions["salescoach.secrets"]
    with db.session_scope() as s:
        from plugin.tenancy import ensure_tenant

        ensure_tenant(s, tenant_id, kind)
        s.add(CrmConnection(tenant_id=tenant_id, kind=kind, instance_url="https://x",
                            access_token_enc=box.encrypt("tok"), status="connected"))


def test_canvas_opens_the_panel_bound_to_org_user_and_record(client: Any, app: Any) -> None:
    connect("sf:00DCANVAS2", "salesforce", app)
    signed = sign_canvas_request(canvas_envelope(org="00DCANVAS2"), SF_SECRET)
    resp = client.post("/sf/canvas", data={"signed_request": signed})
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith(f"{BASE}/panel/live?code=")
    ident = me(client, token_of(resp.headers["Location"], client))
    assert ident["tenant_id"] == "sf:00DCANVAS2" and ident["crm_user_id"] == "005U1"
    assert ident["record_id"] == "003R1" and ident["record_type"] == "Contact"
    assert ident["name"] == "Casey Canvas"


def test_canvas_record_can_come_from_parameters(client: Any) -> None:
    env = canvas_envelope(org="00DPARAMS")
    env["context"]["environment"] = {"parameters": {"recordId": "00QLEAD", "objectApiName": "Lead"}}
    resp = client.post("/sf/canvas", data={"signed_request": sign_canvas_request(env, SF_SECRET)})
    assert resp.status_code == 200
    src = re.search(r'id="panel" src="([^"]+)"', resp.get_data(as_text=True))
    assert src is not None
    ident = me(client, token_of(unescape(src.group(1)), client))
    assert (ident["record_id"], ident["record_type"]) == ("00QLEAD", "Lead")


def test_canvas_for_an_unconnected_org_still_opens_the_panel_with_a_connect_banner(
        client: Any) -> None:
    signed = sign_canvas_request(canvas_envelope(org="00DNEWORG"), SF_SECRET)
    resp = client.post("/sf/canvas", data={"signed_request": signed})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "not connected to Sales Coach yet" in html
    assert f"{BASE}/admin/connect/salesforce" in html
    assert 'id="panel" src="' + f"{BASE}/panel/live?code=" in html
    # Being the first user of a new org makes nobody admin: no admin page link...
    assert f"{BASE}/admin?t=" not in html
    # ...until the installer claims it (salescoach tenant claim-admin).
    from plugin.admin_claim import claim_admin

    with db.session_scope() as s:
        user = s.scalar(select(User).where(User.tenant_id.like("sf:00DNEWORG%")))
        assert user is not None and user.role == "rep"
        claim_admin(s, user.tenant_id, user.crm_user_id)
    again = client.post("/sf/canvas", data={"signed_request": sign_canvas_request(
        canvas_envelope(org="00DNEWORG", issuedAt=int(time.time()) - 1), SF_SECRET)}
                        ).get_data(as_text=True)
    assert f"{BASE}/admin?t=" in again


@pytest.mark.parametrize("signed, reason", [
    (lambda: sign_canvas_request(canvas_envelope(), "wrong-secret"), "does not match"),
    (lambda: sign_canvas_request(canvas_envelope(issuedAt=int(time.time()) - 7200), SF_SECRET),
     "stale"),
    (lambda: sign_canvas_request(canvas_envelope(algorithm="RSA"), SF_SECRET),
     "unsupported algorithm"),
    (lambda: "", "missing signed_request"),
])
def test_canvas_refuses_bad_signed_requests_with_the_reason(client: Any, signed: Any,
                                                            reason: str) -> None:
    resp = client.post("/sf/canvas", data={"signed_request": signed()},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 401
    assert reason in resp.get_json()["error"]["message"]
    html = client.post("/sf/canvas", data={"signed_request": signed()},
                       headers={"Accept": "text/html"})
    assert html.status_code == 401 and reason in html.get_data(as_text=True)


def test_canvas_opened_with_get_explains_the_signed_request_setting(client: Any) -> None:
    resp = client.get("/sf/canvas", headers={"Accept": "text/html"})
    assert resp.status_code == 400 and "Signed Request (POST)" in resp.get_data(as_text=True)


def test_canvas_without_organization_id_is_a_clear_400(client: Any) -> None:
    env = canvas_envelope()
    del env["context"]["organization"]["organizationId"]
    resp = client.post("/sf/canvas", data={"signed_request": sign_canvas_request(env, SF_SECRET)},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert "organizationId" in resp.get_json()["error"]["message"]


def apex(client: Any, body: dict[str, Any] | None = None, secret: str = SF_SECRET,
         raw: bytes | None = None, signature: str | None = "auto") -> Any:
    payload = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "auto":
        headers["X-SalesCoach-Signature"] = sign_apex_callout(payload, secret)
    elif signature is not None:
        headers["X-SalesCoach-Signature"] = signature
    return client.post("/sf/widget/context", data=payload, headers=headers)


def apex_body(org: str = "00DAPEX1", **over: Any) -> dict[str, Any]:
    body = {"orgId": org, "userId": "005APEX", "recordId": "003APEX", "objectApiName": "Contact",
            "issuedAt": int(time.time() * 1000)}
    body.update(over)
    return body


def test_apex_callout_for_unconnected_org_says_how_to_connect(client: Any) -> None:
    resp = apex(client, apex_body())
    data = resp.get_json()
    assert resp.status_code == 200 and data["connected"] is False
    assert data["connect_url"] == f"{BASE}/admin/connect/salesforce"
    assert "not connected" in data["message"]
    ident = me(client, token_of(data["panel_url"]))
    assert ident["tenant_id"] == "sf:00DAPEX1" and ident["record_id"] == "003APEX"


def test_apex_callout_for_connected_org_returns_context_with_a_bound_panel_url(
        client: Any, app: Any) -> None:
    connect("sf:00DAPEX2", "salesforce", app)
    data = apex(client, apex_body("00DAPEX2")).get_json()
    assert data["connected"] is True
    assert data["record"]["id"] == "003APEX"
    assert {"last_call", "trend", "panel_url", "connect_url"} <= set(data)
    assert me(client, token_of(data["panel_url"]))["tenant_id"] == "sf:00DAPEX2"


@pytest.mark.parametrize("case, reason", [
    ("wrong-secret", "does not match"), ("missing", "missing X-SalesCoach-Signature"),
    ("stale", "stale"), ("tampered", "does not match"),
])
def test_apex_callout_refuses_bad_signatures_with_401(client: Any, case: str,
                                                      reason: str) -> None:
    body = apex_body()
    if case == "wrong-secret":
        resp = apex(client, body, secret="nope")
    elif case == "missing":
        resp = apex(client, body, signature=None)
    elif case == "stale":
        resp = apex(client, apex_body(issuedAt=int(time.time() * 1000) - 3_600_000))
    else:
        raw = json.dumps(body).encode()
        resp = apex(client, raw=raw.replace(b"003APEX", b"003OTHER"),
                    signature=sign_apex_callout(raw, SF_SECRET))
    assert resp.status_code == 401
    assert reason in resp.get_json()["error"]["message"]


def test_apex_callout_with_signed_but_invalid_ids_is_a_400(client: Any) -> None:
    resp = apex(client, apex_body(org="00D<script>"))
    assert resp.status_code == 400 and "orgId" in resp.get_json()["error"]["message"]


def hubspot(client: Any, body: dict[str, Any], query: str = "portalId=9001&userId=77",
            secret: str = HS_SECRET, ts_ms: int | None = None, drop: str = "",
            uri_base: str = BASE) -> Any:
    raw = json.dumps(body)
    path = "/hubspot/card/context" + (f"?{query}" if query else "")
    sig, ts = sign_hubspot_v3("POST", uri_base + path, raw, secret, ts_ms)
    headers = {"Content-Type": "application/json", "X-HubSpot-Signature-v3": sig,
               "X-HubSpot-Request-Timestamp": ts}
    headers.pop(drop, None)
    return client.post(path, data=raw, headers=headers)


CARD = {"portalId": 9001, "userId": 77, "userEmail": "hana@example.com", "objectId": "501",
        "objectType": "CONTACT"}


def test_hubspot_card_for_unconnected_portal_says_how_to_connect(client: Any) -> None:
    resp = hubspot(client, CARD)
    data = resp.get_json()
    assert resp.status_code == 200 and data["connected"] is False
    assert data["connect_url"] == f"{BASE}/admin/connect/hubspot"
    ident = me(client, token_of(data["panel_url"]))
    assert ident["tenant_id"] == "hs:9001" and ident["record_id"] == "501"
    assert ident["record_type"] == "contact"


def test_hubspot_card_for_connected_portal_returns_context(client: Any, app: Any) -> None:
    connect("hs:9002", "hubspot", app)
    data = hubspot(client, {**CARD, "portalId": 9002}, query="portalId=9002&userId=77").get_json()
    assert data["connected"] is True and data["record"]["id"] == "501"
    assert me(client, token_of(data["panel_url"]))["tenant_id"] == "hs:9002"


@pytest.mark.parametrize("case, reason", [
    ("secret", "does not match"), ("stale", "older than"),
    ("no-sig", "missing X-HubSpot-Signature-v3"),
    ("no-ts", "missing X-HubSpot-Request-Timestamp"),
    ("proxy-host", "does not match"),
])
def test_hubspot_card_refuses_bad_signatures_with_401(client: Any, case: str,
                                                      reason: str) -> None:
    kwargs: dict[str, Any] = {}
    if case == "secret":
        kwargs["secret"] = "nope"
    elif case == "stale":
        kwargs["ts_ms"] = int(time.time() * 1000) - 400_000
    elif case == "no-sig":
        kwargs["drop"] = "X-HubSpot-Signature-v3"
    elif case == "no-ts":
        kwargs["drop"] = "X-HubSpot-Request-Timestamp"
    else:  # signed for the internal host instead of the public URL HubSpot called
        kwargs["uri_base"] = "http://localhost"
    resp = hubspot(client, CARD, **kwargs)
    assert resp.status_code == 401
    assert reason in resp.get_json()["error"]["message"]


def test_hubspot_card_rejects_a_body_claiming_another_portal(client: Any) -> None:
    resp = hubspot(client, {**CARD, "portalId": 1234})
    assert resp.status_code == 400 and "portalId" in resp.get_json()["error"]["message"]


# Argument name in a route -> which of the owner's rows it names.
ID_ARGS = {"call_id": "call", "recording_id": "recording", "session_id": "practice",
           "nudge_id": "nudge", "item_id": "outbox"}
POST_BODIES: dict[str, Any] = {"rating": {"rating": 1}, "replies": {"text": "Fair point."}}


def test_a_user_of_one_tenant_gets_404_for_every_resource_of_another(client: Any, app: Any,
                                                                     tenants: Any) -> None:
    owner = tenants.identity("sf:00DOWNER", "005OWN")
    with db.session_scope() as s:
        call = Call(tenant_id=owner.tenant_id, user_id=owner.user_id, record_id="003R",
                    status="analysed")
        s.add(call)
        s.flush()
        s.add(Report(tenant_id=owner.tenant_id, call_id=call.id,
                     data={"scores": {"x": 70}, "tips": ["Ask more"]}))
        rec = Recording(tenant_id=owner.tenant_id, filename="a.wav", path="/nonexistent")
        nudge = Nudge(tenant_id=owner.tenant_id, call_id=call.id, category="talk",
                      severity="info", text="Ask a question", rule="r")
        outbox = OutboxItem(tenant_id=owner.tenant_id, idempotency_key=f"k-{call.id}",
                            call_id=call.id, crm="salesforce", status="failed")
        s.add_all([rec, nudge, outbox])
        s.flush()
        ids = {"call": call.id, "recording": rec.id,
               "nudge": str(nudge.id), "outbox": str(outbox.id)}
    # A practice session made through its own API (so its state is real).
    scenarios = client.get("/api/v1/practice/scenarios", headers=tenants.headers(owner))
    scenario = scenarios.get_json()["scenarios"][0]["id"]
    started = client.post("/api/v1/practice/sessions", headers=tenants.headers(owner),
                          json={"scenario_id": scenario})
    assert started.status_code == 201, started.get_json()
    ids["practice"] = started.get_json()["id"]
    # Another tenant's signed entry yields a session bound to that other tenant only ...
    entry_token = token_of(hubspot(client, CARD).get_json()["panel_url"])
    intruder = me(client, entry_token)
    assert intruder["tenant_id"] == "hs:9001"
    # ... and even that tenant's admin sees none of the owner's rows.
    from plugin.security import Identity

    admin = Identity(**{**intruder, "role": "admin"})
    bearer = tenants.headers(admin)
    checked: list[str] = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/v1/", "/panel/")) or len(rule.arguments) != 1:
            continue
        (arg,) = rule.arguments
        if arg not in ID_ARGS:
            continue
        url = re.sub(r"<[^>]+>", ids[ID_ARGS[arg]], rule.rule)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            body = next((b for key, b in POST_BODIES.items() if key in rule.rule), {})
            resp = client.open(url, method=method, headers=bearer,
                               json=body if method == "POST" else None)
            assert resp.status_code == 404, (method, url, resp.status_code, resp.get_data()[:200])
            checked.append(f"{method} {rule.rule}")
    print("tenant wall checked:", checked)
    assert "GET /api/v1/calls/<call_id>" in checked
    assert "GET /api/v1/practice/sessions/<session_id>" in checked
    # The owner reaches the same rows, so the 404s above are the wall, not bad ids.
    owner_call = client.get(f"/api/v1/calls/{ids['call']}", headers=tenants.headers(owner))
    assert owner_call.status_code == 200
    assert client.get(f"/api/v1/practice/sessions/{ids['practice']}",
                      headers=tenants.headers(owner)).status_code == 200
    # Lists never include another tenant's rows.
    for path in ("/api/v1/calls", "/api/v1/practice/sessions", "/api/v1/live/calls"):
        resp = client.get(path, headers=bearer)
        if resp.status_code == 200:
            assert ids["call"] not in resp.get_data(as_text=True)
            assert ids["practice"] not in resp.get_data(as_text=True)
    # The widget context of the owner's record never leaks into the other tenant's answer.
    data = hubspot(client, {**CARD, "objectId": "003R"}).get_json()
    assert data["last_call"] is None


def test_a_signed_request_is_good_once(client: Any) -> None:
    """Replay cache: the same canvas POST, HubSpot card fetch or Apex callout twice within
    its window; the second is refused and opens no session."""
    signed = sign_canvas_request(canvas_envelope(org="00DREPLAY1"), SF_SECRET)
    first = client.post("/sf/canvas", data={"signed_request": signed},
                        headers={"Accept": "application/json"})
    again = client.post("/sf/canvas", data={"signed_request": signed},
                        headers={"Accept": "application/json"})
    assert first.status_code in (200, 303)
    assert again.status_code == 401 and again.json["error"]["code"] == "replayed_request"
    assert "/panel/live?" not in again.get_data(as_text=True)

    ts = int(time.time() * 1000)
    card = {**CARD, "portalId": 9002}
    assert hubspot(client, card, query="portalId=9002&userId=77", ts_ms=ts).status_code == 200
    replay = hubspot(client, card, query="portalId=9002&userId=77", ts_ms=ts)
    assert replay.status_code == 401 and replay.json["error"]["code"] == "replayed_request"
    assert "panel_url" not in replay.get_data(as_text=True)

    raw = json.dumps(apex_body(org="00DREPLAY2")).encode()
    assert apex(client, raw=raw).status_code == 200
    replay = apex(client, raw=raw)
    assert replay.status_code == 401 and replay.json["error"]["code"] == "replayed_request"
    # a fresh signature of the same user is fine (only the exact request is spent)
    assert apex(client, apex_body(org="00DREPLAY2", issuedAt=int(time.time() * 1000) + 1)
                ).status_code == 200
