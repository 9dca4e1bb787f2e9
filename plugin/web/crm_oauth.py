"""Connect a tenant to Salesforce or HubSpot: OAuth 2.0 authorization code with authlib.

``GET /admin/connect/<kind>`` sends the browser to the CRM's consent page (the sandbox's in
demo mode); ``GET /oauth/<kind>/callback`` checks ``state``, exchanges the code, learns the
org id (Salesforce ``id`` URL) or hub id (HubSpot token info), stores the tokens encrypted in
``CrmConnection`` and opens the admin page of that tenant. ``POST /admin/disconnect/<kind>``
forgets the tokens. Without a session, connect is the install flow: the tenant is whatever
org/portal the user signs in to. Nobody becomes admin by being first: the installer claims
it (``salescoach tenant claim-admin``, or the one-time code of ``salescoach tenant
claim-code`` passed as ``/admin/connect/<kind>?claim=<code>``). ``state`` is bound to the
browser by a nonce in its session cookie; a callback without that cookie is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from flask import Blueprint, current_app, jsonify, redirect, render_template, request
from flask import session as cookie_session
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from plugin import audit
from plugin.admin_claim import claim_admin, redeem_claim_code
from plugin.crm_auth import salesforce_id18
from plugin.db import request_session
from plugin.models import CrmConnection
from plugin.security import Identity, SessionError
from plugin.web.auth import entry_url, signer, token_from_request
from plugin.web.crm_common import (
    KINDS,
    CrmApp,
    bind_user,
    check_id,
    connection,
    crm_app,
    identity_for,
    secrets_box,
    settings,
    tenant_id_for,
)
from plugin.web.errors import ApiError

log = logging.getLogger(__name__)
bp = Blueprint("crm_oauth", __name__)

STATE_TTL_S = 600
HTTP_TIMEOUT_S = 15
SCOPES = {
    "salesforce": "api refresh_token",
    "hubspot": ("oauth crm.objects.contacts.read crm.objects.contacts.write "
                "crm.objects.companies.read crm.objects.deals.read"),
}


class OAuthFlowError(Exception):
    """The connection could not be made; ``reason`` is shown to the admin."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason


@dataclass(frozen=True, slots=True)
class Grant:
    """What a successful code exchange tells us about the connection."""

    external_id: str  # org id / hub id
    crm_user_id: str
    user_name: str
    user_email: str
    instance_url: str
    access_token: str
    refresh_token: str
    expires_at: datetime | None
    org_name: str = ""


def _state_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="salescoach.oauth-state")


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ApiError(404, "not_found", f"unknown CRM {kind!r}; use salesforce or hubspot")
    return kind


def _optional_identity() -> Identity | None:
    """The caller's session if a token was sent (a bad token is an error, not anonymous)."""
    token = token_from_request()
    if not token:
        return None
    try:
        return signer().verify(token)
    except SessionError as exc:
        raise ApiError(401, "unauthorized", exc.reason) from None


def redirect_uri(kind: str) -> str:
    return f"{settings().public_base_url}/oauth/{kind}/callback"


def _client(app: CrmApp, kind: str, state: str | None = None) -> OAuth2Session:
    client = OAuth2Session(app.client_id, app.client_secret, scope=SCOPES[kind],
                           redirect_uri=redirect_uri(kind), state=state,
                           token_endpoint_auth_method="client_secret_post",
                           default_timeout=HTTP_TIMEOUT_S)
    client.verify = app.verify
    return client


@bp.get("/admin/connect/<kind>")
def connect(kind: str) -> Any:
    """Start the authorization-code flow (admins from the admin page, or an install link)."""
    try:
        _check_kind(kind)
        identity = _optional_identity()
        if identity is not None and identity.role != "admin":
            raise ApiError(403, "forbidden", "only an admin of this org can connect the CRM")
        app = crm_app(settings(), kind)
    except ApiError as exc:
        return _flow_error(OAuthFlowError(exc.status, exc.code, exc.message))
    nonce = secrets.token_urlsafe(16)
    claim = request.args.get("claim", "")
    state = _state_serializer().dumps({
        "k": kind, "n": nonce,
        "tenant": identity.tenant_id if identity else "",
        "user": identity.user_id if identity else 0,
        "claim": claim if isinstance(claim, str) and len(claim) <= 128 else "",
    })
    cookie_session[f"oauth_nonce_{kind}"] = nonce
    url, _ = _client(app, kind).create_authorization_url(app.authorize_url, state=state)
    return redirect(url, code=302)


def _read_state(kind: str, state: str) -> dict[str, Any]:
    try:
        data = _state_serializer().loads(state, max_age=STATE_TTL_S)
    except SignatureExpired:
        raise OAuthFlowError(400, "invalid_state", "the connection attempt expired; start "
                             "again from the admin page") from None
    except BadSignature:
        raise OAuthFlowError(400, "invalid_state", "missing or forged state parameter; start "
                             "again from the admin page") from None
    if not isinstance(data, dict) or data.get("k") != kind:
        raise OAuthFlowError(400, "invalid_state", "state was issued for another CRM")
    cookie_nonce = cookie_session.pop(f"oauth_nonce_{kind}", None)
    if cookie_nonce is None:
        # state is bound to the browser that started the flow: a callback without its
        # cookie (another browser, or a link someone was sent) logs nobody in
        raise OAuthFlowError(400, "missing_state_cookie", "this browser did not start the "
                             "connection (its sign-in cookie is missing); start again from "
                             "the admin page in this browser")
    if not hmac.compare_digest(str(cookie_nonce), str(data.get("n", ""))):
        raise OAuthFlowError(400, "invalid_state", "state belongs to another browser session")
    return data


def _salesforce_grant(token: dict[str, Any], app: CrmApp) -> Grant:
    id_url = str(token.get("id") or "")
    parts = [p for p in urlsplit(id_url).path.split("/") if p]
    if len(parts) < 3 or parts[-3] != "id":
        raise OAuthFlowError(502, "bad_token_response",
                             "Salesforce token response has no identity URL ('id')")
    org_id, user_id = parts[-2], parts[-1]
    sig = token.get("signature")
    if sig and token.get("issued_at"):
        expected = base64.b64encode(hmac.new(app.client_secret.encode(),
                                             (id_url + str(token["issued_at"])).encode(),
                                             hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, str(sig)):
            raise OAuthFlowError(502, "bad_token_response",
                                 "Salesforce token response signature does not match")
    instance_url = str(token.get("instance_url") or "")
    if not instance_url.startswith("https://"):
        raise OAuthFlowError(502, "bad_token_response",
                             "Salesforce token response has no https instance_url")
    return Grant(salesforce_id18(check_id(org_id, "org id")),
                 salesforce_id18(check_id(user_id, "user id")), "", "",
                 instance_url.rstrip("/"), str(token.get("access_token") or ""),
                 str(token.get("refresh_token") or ""), None)


def _hubspot_grant(token: dict[str, Any], app: CrmApp, client: OAuth2Session) -> Grant:
    access = str(token.get("access_token") or "")
    resp = client.get(f"{app.api_base}/oauth/v1/access-tokens/{access}", withhold_token=True,
                      timeout=HTTP_TIMEOUT_S, verify=app.verify)
    if resp.status_code != 200:
        raise OAuthFlowError(502, "bad_token_response",
                             f"HubSpot token info answered {resp.status_code}")
    info = resp.json()
    expires_in = token.get("expires_in") or info.get("expires_in")
    expires_at = (datetime.now(UTC) + timedelta(seconds=int(expires_in))) if expires_in else None
    user_id = str(info.get("user_id") or "") or str(info.get("user") or "")[:64]
    if not user_id:
        raise OAuthFlowError(502, "bad_token_response", "HubSpot token info names no user")
    return Grant(check_id(info.get("hub_id"), "hub_id"), user_id,
                 str(info.get("user") or ""), str(info.get("user") or ""), app.api_base,
                 access, str(token.get("refresh_token") or ""), expires_at,
                 str(info.get("hub_domain") or ""))


def _exchange(kind: str, app: CrmApp, state: str, code: str) -> Grant:
    client = _client(app, kind, state)
    try:
        # ``verify`` per request: requests lets REQUESTS_CA_BUNDLE override a session's value.
        token = dict(client.fetch_token(app.token_url, code=code, verify=app.verify,
                                        grant_type="authorization_code"))
        if not token.get("access_token"):
            raise OAuthFlowError(502, "bad_token_response", "no access_token in the answer")
        if kind == "salesforce":
            return _salesforce_grant(token, app)
        return _hubspot_grant(token, app, client)
    except OAuthError as exc:
        raise OAuthFlowError(400, "oauth_error", f"{kind} refused the code: {exc.error}"
                             + (f" ({exc.description})" if exc.description else "")) from None
    except requests.RequestException as exc:
        raise OAuthFlowError(502, "crm_unreachable",
                             f"could not reach {kind} at {app.token_url}: "
                             f"{type(exc).__name__}") from None
    except ApiError as exc:
        raise OAuthFlowError(502, "bad_token_response", exc.message) from None
    finally:
        client.close()


def _store(session: Session, kind: str, grant: Grant, initiator: dict[str, Any]) -> Identity:
    """Bind the tenant and user the CRM vouched for; upsert the encrypted connection."""
    tenant = tenant_id_for(kind, grant.external_id)
    started_from = str(initiator.get("tenant") or "")
    if started_from.startswith(("sf:", "hs:")) and started_from != tenant:
        raise OAuthFlowError(409, "wrong_org",
                             f"you signed in to {tenant}, but the admin page was opened for "
                             f"{started_from}; sign in to the right "
                             f"{'org' if kind == 'salesforce' else 'account'}")
    user = bind_user(session, tenant, kind, grant.org_name, grant.crm_user_id, grant.user_name,
                     grant.user_email)
    claim = str(initiator.get("claim") or "")
    if claim and user.role != "admin":
        # the installer's one-time claim code (``salescoach tenant claim-code``): the CRM
        # vouched for who they are, the code that they installed this instance
        if not redeem_claim_code(session, claim):
            raise OAuthFlowError(403, "bad_claim_code", "that claim code is unknown, used or "
                                 "expired; print a new one with `salescoach tenant "
                                 "claim-code`")
        claim_admin(session, tenant, user.crm_user_id, reason="claim code")
    conn = connection(session, tenant, kind)
    if user.role != "admin":
        raise OAuthFlowError(403, "forbidden", "only an admin of this org can connect it; "
                             "ask your Sales Coach admin")
    box = secrets_box()
    if conn is None:
        conn = CrmConnection(tenant_id=tenant, kind=kind)
        session.add(conn)
    conn.instance_url = grant.instance_url
    conn.access_token_enc = box.encrypt(grant.access_token)
    conn.refresh_token_enc = box.encrypt(grant.refresh_token)
    conn.expires_at = grant.expires_at
    conn.status = "connected"
    conn.connected_by = user.id
    session.flush()
    return identity_for(user)


def _flow_error(exc: OAuthFlowError) -> Any:
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "application/json":
        raise ApiError(exc.status, exc.code, exc.reason)
    return render_template("admin_error.html", reason=exc.reason, code=exc.code), exc.status


@bp.get("/oauth/<kind>/callback")
def callback(kind: str) -> Any:
    """The CRM sends the browser back here with ``code`` and ``state``."""
    _check_kind(kind)
    try:
        if request.args.get("error"):
            why = request.args.get("error_description") or request.args["error"]
            raise OAuthFlowError(400, "oauth_denied", f"{kind} did not grant access: {why}")
        state = request.args.get("state", "")
        initiator = _read_state(kind, state)
        code = request.args.get("code", "")
        if not code:
            raise OAuthFlowError(400, "invalid_request", "missing code parameter")
        app = crm_app(settings(), kind)
        grant = _exchange(kind, app, state, code)
        session = request_session()
        identity = _store(session, kind, grant, initiator)
        audit.record(session, identity.tenant_id, identity, "crm.connect", f"crm:{kind}")
        session.commit()
    except OAuthFlowError as exc:
        request_session().rollback()
        return _flow_error(exc)
    log.info("connected %s for tenant %s", kind, identity.tenant_id)
    return redirect(entry_url("/admin", identity, f"connected={kind}"), code=303)


def admin_identity() -> Identity:
    """The caller's session, which must belong to an admin (401/403 otherwise)."""
    identity = _optional_identity()
    if identity is None:
        raise ApiError(401, "unauthorized", "missing session token")
    if identity.role != "admin":
        raise ApiError(403, "forbidden", "this page is for admins of the org")
    return identity


@bp.post("/admin/disconnect/<kind>")
def disconnect(kind: str) -> Any:
    """Forget the tokens of this tenant's connection (the CRM app stays installed)."""
    _check_kind(kind)
    identity = admin_identity()
    session = request_session()
    conn = connection(session, identity.tenant_id, kind)
    if conn is None:
        raise ApiError(404, "not_found", f"no {kind} connection for this org")
    conn.status = "disconnected"
    conn.access_token_enc = ""
    conn.refresh_token_enc = ""
    conn.expires_at = None
    audit.record(session, identity.tenant_id, identity, "crm.disconnect", f"crm:{kind}")
    session.commit()
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return redirect(f"/admin?t={token_from_request()}&disconnected={kind}", code=303)
    return jsonify(kind=kind, status="disconnected")
