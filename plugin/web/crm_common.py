"""What the CRM entry points share: app credentials (real or sandbox), connection status,
binding a CRM user to a session, and the widget context answer."""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plugin.models import Call, CrmConnection, Report, User
from plugin.security import Identity, SecretBox
from plugin.settings import Settings
from plugin.tenancy import ensure_tenant, ensure_user, visible_filter
from plugin.web.auth import issue_token
from plugin.web.errors import ApiError

log = logging.getLogger(__name__)

KINDS = ("salesforce", "hubspot")
TENANT_PREFIX = {"salesforce": "sf", "hubspot": "hs"}
HUBSPOT_APP_HOST = "https://app.hubspot.com"
_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@dataclass(frozen=True, slots=True)
class CrmApp:
    """One CRM app registration: where to send users and who we are to that CRM."""

    kind: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    api_base: str  # Salesforce login host / HubSpot API host
    verify: bool | str  # requests' ``verify``: the sandbox CA path in demo mode
    source: str  # "settings" | "sandbox"


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def secrets_box() -> SecretBox:
    return current_app.extensions["salescoach.secrets"]


def crm_app(cfg: Settings, kind: str) -> CrmApp:
    """The app credentials for ``kind``: from settings when set, else the sandbox (demo mode).

    Raises a 503 ``crm_not_configured`` ApiError when neither is available.
    """
    if kind == "salesforce" and cfg.salesforce_client_id and cfg.salesforce_client_secret:
        base = cfg.salesforce_login_url.rstrip("/")
        return CrmApp(kind, cfg.salesforce_client_id, cfg.salesforce_client_secret,
                      base + "/services/oauth2/authorize", base + "/services/oauth2/token",
                      base, True, "settings")
    if kind == "hubspot" and cfg.hubspot_client_id and cfg.hubspot_client_secret:
        api = cfg.hubspot_api_host.rstrip("/")
        app_host = str(getattr(cfg, "hubspot_app_host", "") or HUBSPOT_APP_HOST).rstrip("/")
        return CrmApp(kind, cfg.hubspot_client_id, cfg.hubspot_client_secret,
                      app_host + "/oauth/authorize", api + "/oauth/v1/token", api, True,
                      "settings")
    if kind not in KINDS:
        raise ApiError(404, "not_found", f"unknown CRM {kind!r}; use salesforce or hubspot")
    if not cfg.demo:
        raise ApiError(503, "crm_not_configured",
                       f"no {kind} app is configured: set SALESCOACH_{kind.upper()}_CLIENT_ID "
                       f"and SALESCOACH_{kind.upper()}_CLIENT_SECRET")
    try:
        from plugin.sandbox.config import sandbox_credentials
    except ImportError:
        raise ApiError(503, "crm_not_configured",
                       f"no {kind} app is configured and the CRM sandbox is missing") from None
    creds = sandbox_credentials(cfg)
    base = str(creds.base_url).rstrip("/")
    verify: bool | str = str(creds.ca_path) if getattr(creds, "ca_path", None) else True
    if kind == "salesforce":
        return CrmApp(kind, creds.sf_client_id, creds.sf_client_secret,
                      base + "/services/oauth2/authorize", base + "/services/oauth2/token",
                      base, verify, "sandbox")
    return CrmApp(kind, creds.hs_client_id, creds.hs_client_secret,
                  base + "/oauth/authorize", base + "/oauth/v1/token", base, verify, "sandbox")


def check_id(value: Any, what: str, required: bool = True) -> str:
    """A CRM id from a request: letters, digits, '-' and '_', at most 64 chars."""
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise ApiError(400, "invalid_request", f"missing {what}")
        return ""
    if not _ID_RE.match(text):
        raise ApiError(400, "invalid_request", f"{what} is not a valid CRM id")
    return text


def tenant_id_for(kind: str, external_id: str) -> str:
    return f"{TENANT_PREFIX[kind]}:{external_id}"


def connection(session: Session, tenant_id: str, kind: str) -> CrmConnection | None:
    return session.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant_id,
                                                      CrmConnection.kind == kind))


def is_connected(session: Session, tenant_id: str, kind: str) -> bool:
    conn = connection(session, tenant_id, kind)
    return conn is not None and conn.status == "connected" and bool(conn.access_token_enc)


def bind_user(session: Session, tenant_id: str, kind: str, tenant_name: str, crm_user_id: str,
              name: str = "", email: str = "") -> User:
    """Ensure tenant and user; a new user is a rep (``salescoach tenant claim-admin`` makes the
    installer admin).

    Call it before any other write of the request: when several users of a new org arrive
    at once, the loser of the insert race rolls back and finds the winner's rows.
    """
    for attempt in (1, 2):
        try:
            return _bind_user(session, tenant_id, kind, tenant_name, crm_user_id, name, email)
        except IntegrityError:
            if attempt == 2:
                raise
            session.rollback()
    raise AssertionError("unreachable")


def _bind_user(session: Session, tenant_id: str, kind: str, tenant_name: str, crm_user_id: str,
               name: str, email: str) -> User:
    ensure_tenant(session, tenant_id, kind, tenant_name)
    existing = session.scalar(select(User).where(User.tenant_id == tenant_id,
                                                 User.crm_user_id == crm_user_id))
    if existing is not None:
        return ensure_user(session, tenant_id, crm_user_id, name, email)
    # Every new user is a rep: being first in a new org proves nothing (anyone of the org
    # may open the app first); admins are claimed (plugin.admin_claim) or appointed.
    return ensure_user(session, tenant_id, crm_user_id, name, email, role="rep")


def identity_for(user: User, record_id: str = "", record_type: str = "") -> Identity:
    return Identity(tenant_id=user.tenant_id, user_id=user.id, crm_user_id=user.crm_user_id,
                    name=user.name, role=user.role, record_id=record_id, record_type=record_type)


def panel_url(identity: Identity, tab: str = "live") -> str:
    return f"{settings().public_base_url}/panel/{tab}?t={issue_token(identity)}"


def connect_url(kind: str) -> str:
    return f"{settings().public_base_url}/admin/connect/{kind}"


def refuse_replay(kind: str, signature: str, window_s: int) -> None:
    """A verified signed request is good once: the same signature again within its window
    (a replayed canvas POST, card fetch or Apex callout) is refused."""
    from plugin.once import first_use

    if not first_use(f"replay-{kind}", signature, window_s):
        raise ApiError(401, "replayed_request", "this signed request was already used; "
                       "reload the page in your CRM")


def not_connected_message(kind: str) -> str:
    label, button = (("Salesforce org", "Connect Salesforce") if kind == "salesforce"
                     else ("HubSpot account", "Connect HubSpot"))
    return (f"This {label} is not connected to Sales Coach yet. An admin can connect it on "
            f"the Sales Coach admin page ({button}) or at {connect_url(kind)}. Live coaching "
            f"and practice work meanwhile; CRM history and write-back start once connected.")


def widget_context_for(session: Session, identity: Identity, kind: str) -> dict[str, Any]:
    """The JSON both widgets show (contracts.md, "CRM entry points and widget context")."""
    base: dict[str, Any] = {"record": {"id": identity.record_id, "type": identity.record_type},
                            "last_call": None, "trend": []}
    if not is_connected(session, identity.tenant_id, kind):
        base.update(connected=False, connect_url=connect_url(kind),
                    message=not_connected_message(kind), panel_url=panel_url(identity))
        return base
    ctx: dict[str, Any] | None = None
    try:
        widget_context = getattr(importlib.import_module("plugin.crm"), "widget_context", None)
    except ImportError:
        widget_context = None
    if widget_context is not None:
        try:
            ctx = dict(widget_context(session, identity.tenant_id, identity.record_id,
                                      identity.record_type, settings(),
                                      calls_visible=visible_filter(session, Call, identity)))
        except Exception as exc:  # noqa: BLE001 - the widget must answer even if the CRM fails
            log.exception("widget context failed for %s/%s", identity.tenant_id,
                          identity.record_id)
            ctx = local_history(session, identity)
            ctx["warning"] = f"CRM details unavailable right now ({type(exc).__name__})"
    else:
        ctx = local_history(session, identity)
    for key, value in base.items():
        ctx.setdefault(key, value)
    ctx["connected"] = True
    ctx["connect_url"] = connect_url(kind)
    ctx["panel_url"] = panel_url(identity)
    return ctx


def local_history(session: Session, identity: Identity) -> dict[str, Any]:
    """Last call and score trend for the record from our own tables (used when the CRM
    adapters' ``widget_context`` is not installed)."""
    calls = session.scalars(
        select(Call).where(visible_filter(session, Call, identity),
                           Call.record_id == identity.record_id)
        .order_by(Call.created_at.desc()).limit(10)).all()
    trend: list[dict[str, Any]] = []
    last: dict[str, Any] | None = None
    for call in calls:
        report = session.scalar(select(Report).where(Report.tenant_id == identity.tenant_id,
                                                     Report.call_id == call.id)
                                .order_by(Report.version.desc()))
        if report is None:
            continue
        scores = dict(report.data.get("scores") or {})
        score = int(round(sum(scores.values()) / len(scores))) if scores else None
        day = (call.started_at or call.created_at).date().isoformat()
        trend.append({"date": day, "score": score})
        if last is None:
            last = {"call_id": call.id, "date": day, "score": score,
                    "tips": list(report.data.get("tips") or [])[:3],
                    "report_url": f"{settings().public_base_url}/panel/calls?call={call.id}"}
    return {"record": {"id": identity.record_id, "type": identity.record_type},
            "last_call": last, "trend": list(reversed(trend))}
