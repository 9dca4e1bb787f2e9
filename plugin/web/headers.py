"""Security headers on every response, and cookie flags.

HTML pages may be framed only by the signed-in tenant's CRM hosts (CSP ``frame-ancestors``):
its Salesforce instance (from the CRM connection) or HubSpot's app host; before any identity
is known, the configured CRM hosts; in demo mode also the CRM sandbox, whose demo record
pages frame the panel. Everything else (JSON, PDF, audio) may not be framed at all, which
``X-Frame-Options: DENY`` also says to browsers without CSP. No cookie is needed inside a CRM
frame (the panel carries a bearer token), so every cookie is ``SameSite=Lax``, and
``Secure`` behind TLS.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g
from sqlalchemy import select

from plugin.security import Identity, SessionError
from plugin.settings import Settings

log = logging.getLogger(__name__)

SALESFORCE_HOSTS = ("https://*.force.com", "https://*.salesforce.com")
HUBSPOT_HOSTS = ("https://app.hubspot.com", "https://app-eu1.hubspot.com")
HSTS = "max-age=31536000; includeSubDomains"
_CACHE_S = 60.0
_tenant_hosts: dict[str, tuple[float, tuple[str, ...]]] = {}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _sandbox_origin(settings: Settings) -> str:
    """Where the demo CRM pages come from (the running sandbox), in demo mode only."""
    if not settings.demo:
        return ""
    try:
        from plugin.sandbox.config import running_base_url, sandbox_paths
    except ImportError:
        return ""
    base = running_base_url(sandbox_paths(settings.instance_path))
    return _origin(base or f"https://127.0.0.1:{settings.sandbox_port or 8443}")


def configured_hosts(settings: Settings) -> tuple[str, ...]:
    """The CRM hosts that may frame a page loaded before the tenant is known."""
    hosts = list(SALESFORCE_HOSTS)
    login = _origin(settings.salesforce_login_url)
    if login and login not in hosts:
        hosts.append(login)
    app_host = _origin(str(getattr(settings, "hubspot_app_host", "") or ""))
    hosts += [app_host] if app_host else list(HUBSPOT_HOSTS)
    return tuple(hosts)


def salesforce_hosts(instance_url: str) -> tuple[str, ...]:
    """An org's own hosts: its instance (My Domain) and the Lightning host that frames canvas."""
    host = urlsplit(instance_url).netloc
    if not host:
        return ()
    hosts = [f"https://{host}"]
    for suffix in (".my.salesforce.com", ".lightning.force.com"):
        if host.endswith(suffix):
            domain = host[: -len(suffix)]
            hosts += [f"https://{domain}.my.salesforce.com",
                      f"https://{domain}.lightning.force.com"]
    return tuple(dict.fromkeys(hosts))


def tenant_hosts(settings: Settings, tenant_id: str) -> tuple[str, ...]:
    """The CRM hosts of one tenant (cached a minute): its Salesforce instance when connected,
    HubSpot's app host for a portal; the configured hosts when nothing more is known."""
    cached = _tenant_hosts.get(tenant_id)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    hosts: tuple[str, ...] = ()
    if tenant_id.startswith("sf:"):
        from plugin.db import db
        from plugin.models import CrmConnection

        try:
            with db.session_scope() as s:
                instance = s.scalar(select(CrmConnection.instance_url).where(
                    CrmConnection.tenant_id == tenant_id, CrmConnection.kind == "salesforce"))
        except Exception:  # noqa: BLE001 - the database is down: the configured hosts
            log.warning("could not read the CRM hosts of %s", tenant_id, exc_info=True)
            return configured_hosts(settings)
        hosts = salesforce_hosts(instance or "")
    elif tenant_id.startswith("hs:"):
        app_host = _origin(str(getattr(settings, "hubspot_app_host", "") or ""))
        hosts = (app_host,) if app_host else HUBSPOT_HOSTS
    if not hosts:
        hosts = configured_hosts(settings)
    _tenant_hosts[tenant_id] = (time.monotonic() + _CACHE_S, hosts)
    return hosts


def _identity() -> Identity | None:
    identity: Identity | None = g.get("identity")
    if identity is not None:
        return identity
    from flask import request

    from plugin.web.auth import signer

    # a bearer header or ``?t=`` only: a one-time ``?code=`` is the view's to redeem
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else \
        request.args.get("t", "")
    if not token:
        return None
    try:
        return signer().verify(token)
    except SessionError:
        return None


def frame_ancestors(settings: Settings) -> str:
    identity = _identity()
    hosts = list(tenant_hosts(settings, identity.tenant_id) if identity is not None
                 else configured_hosts(settings))
    sandbox = _sandbox_origin(settings)
    if sandbox:
        hosts.append(sandbox)
    return " ".join(["'self'", *dict.fromkeys(hosts)])


def _secure_cookies(resp: Response, secure: bool) -> None:
    """Every Set-Cookie gets SameSite (Lax unless it says otherwise), and Secure behind TLS."""
    cookies = resp.headers.getlist("Set-Cookie")
    if not cookies:
        return
    fixed = []
    for raw in cookies:
        lower = raw.lower()
        if "samesite=" not in lower:
            raw += "; SameSite=Lax"
        if secure and "; secure" not in lower:
            raw += "; Secure"
        fixed.append(raw)
    resp.headers.setlist("Set-Cookie", fixed)


def security_headers(resp: Response) -> Response:
    settings: Settings = current_app.config["SETTINGS"]
    tls = settings.public_base_url.startswith("https://")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")  # session tokens ride in URLs
    if tls:
        resp.headers.setdefault("Strict-Transport-Security", HSTS)
    if resp.mimetype == "text/html":
        csp = (f"frame-ancestors {frame_ancestors(settings)}; base-uri 'self'; "
               "object-src 'none'")
    else:
        csp = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
        resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Content-Security-Policy", csp)
    _secure_cookies(resp, tls)
    return resp


def init_app(app: Flask) -> None:
    settings: Settings = app.config["SETTINGS"]
    tls = settings.public_base_url.startswith("https://")
    app.config.update(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=tls,
                      SESSION_COOKIE_HTTPONLY=True)
    app.after_request(security_headers)

