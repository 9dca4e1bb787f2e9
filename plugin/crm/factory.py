"""Build the adapter of a tenant's CRM connection (tokens decrypted, refreshed tokens saved
back encrypted), and store new connections."""

from __future__ import annotations

import itertools
import logging
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.coach.types import CustomerContext
from plugin.crm.tokens import OAuthApp, OAuthTokens, TokenSaver
from plugin.models import CrmConnection
from plugin.providers.crm import CallActivity, CrmAdapter
from plugin.security import SecretBox, encryption_key
from plugin.settings import Settings

log = logging.getLogger(__name__)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
KINDS = ("salesforce", "hubspot")


def is_sandbox_url(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK


def live_sandbox_url(settings: Settings) -> str | None:
    """Base URL of the sandbox running for this instance (its port may differ from the one
    stored when the connection was made, e.g. ``SALESCOACH_SANDBOX_PORT=0``)."""
    from plugin.sandbox.config import running_base_url, sandbox_paths

    return running_base_url(sandbox_paths(settings.instance_path))


def oauth_app(settings: Settings, kind: str, instance_url: str = "") -> OAuthApp:
    """Credentials to refresh tokens: the sandbox's for a loopback instance (demo mode),
    otherwise the CRM app from settings."""
    if instance_url and is_sandbox_url(instance_url) or not _configured(settings, kind):
        from plugin.sandbox.config import sandbox_credentials

        creds = sandbox_credentials(settings)
        base = (instance_url or creds.base_url).rstrip("/")
        if kind == "salesforce":
            return OAuthApp(creds.sf_client_id, creds.sf_client_secret,
                            base + "/services/oauth2/token", creds.ca_path)
        return OAuthApp(creds.hs_client_id, creds.hs_client_secret, base + "/oauth/v1/token",
                        creds.ca_path)
    if kind == "salesforce":
        return OAuthApp(settings.salesforce_client_id, settings.salesforce_client_secret,
                        settings.salesforce_login_url.rstrip("/") + "/services/oauth2/token")
    return OAuthApp(settings.hubspot_client_id, settings.hubspot_client_secret,
                    settings.hubspot_api_host.rstrip("/") + "/oauth/v1/token")


def _configured(settings: Settings, kind: str) -> bool:
    if kind == "salesforce":
        return bool(settings.salesforce_client_id and settings.salesforce_client_secret)
    return bool(settings.hubspot_client_id and settings.hubspot_client_secret)


def _kind_for(tenant_id: str, record_id: str) -> str | None:
    if tenant_id.startswith("sf:"):
        return "salesforce"
    if tenant_id.startswith("hs:"):
        return "hubspot"
    if record_id:
        return "hubspot" if record_id.isdigit() else "salesforce"
    return None


def connection_for(session: Session, tenant_id: str, kind: str | None = None,
                   record_id: str = "") -> CrmConnection | None:
    """The tenant's connected CRM (of ``kind``, or the one its id/record id implies)."""
    rows = session.scalars(select(CrmConnection).where(
        CrmConnection.tenant_id == tenant_id, CrmConnection.status == "connected",
        CrmConnection.access_token_enc != "").order_by(CrmConnection.id)).all()
    wanted = kind or _kind_for(tenant_id, record_id)
    for row in rows:
        if wanted is None or row.kind == wanted:
            return row
    return None if wanted else (rows[0] if rows else None)


def _saver(session: Session, box: SecretBox, connection_id: int) -> TokenSaver:
    """Persist refreshed tokens (encrypted) in a session of their own: the caller's session
    may be closed by the time a refresh happens."""
    bind = session.get_bind()

    def save(tokens: OAuthTokens) -> None:
        with Session(bind) as s, s.begin():
            row = s.get(CrmConnection, connection_id)
            if row is None:
                return
            row.access_token_enc = box.encrypt(tokens.access_token)
            if tokens.refresh_token:
                row.refresh_token_enc = box.encrypt(tokens.refresh_token)
            row.instance_url = tokens.instance_url
            row.expires_at = tokens.expires_at
            kind = row.kind
        log.info("stored refreshed %s tokens of connection %s", kind, connection_id)

    return save


class RoutingAdapter(CrmAdapter):
    """For a tenant connected to both CRMs (the demo): each record goes to the CRM its id
    belongs to (digits: HubSpot; Salesforce ids have letters)."""

    kind = "routing"

    def __init__(self, adapters: dict[str, CrmAdapter]) -> None:
        self.adapters = adapters

    def for_record(self, record_id: str) -> CrmAdapter:
        return self.adapters["hubspot" if record_id.isdigit() else "salesforce"]

    def customer_context(self, record_id: str, record_type: str = "") -> CustomerContext:
        return self.for_record(record_id).customer_context(record_id, record_type)

    def write_call_activity(self, activity: CallActivity, idempotency_key: str) -> str:
        return self.for_record(activity.record_id).write_call_activity(activity,
                                                                       idempotency_key)

    def update_call_activity(self, crm_id: str, activity: CallActivity,
                             idempotency_key: str) -> str:
        return self.for_record(activity.record_id).update_call_activity(crm_id, activity,
                                                                        idempotency_key)

    def search_records(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Both CRMs' matches, interleaved so neither hides the other."""
        found = [a.search_records(text, limit) for a in self.adapters.values()]
        merged = [r for group in itertools.zip_longest(*found) for r in group if r]
        return merged[:limit]


def adapter_for(session: Session, tenant_id: str, settings: Settings, kind: str | None = None,
                record_id: str = "") -> CrmAdapter | None:
    """The CRM adapter of ``tenant_id``, or None when it has no connected CRM.

    The adapter holds decrypted tokens and outlives ``session``. ``kind`` picks a CRM when a
    tenant (the demo) has both; otherwise a numeric ``record_id`` means HubSpot, and with
    neither a ``RoutingAdapter`` picks per record.
    """
    if kind is None and _kind_for(tenant_id, record_id) is None:
        kinds = [c.kind for c in session.scalars(select(CrmConnection).where(
            CrmConnection.tenant_id == tenant_id, CrmConnection.status == "connected",
            CrmConnection.access_token_enc != ""))]
        if set(KINDS) <= set(kinds):
            built = {k: adapter_for(session, tenant_id, settings, kind=k) for k in KINDS}
            return RoutingAdapter({k: a for k, a in built.items() if a is not None})
    conn = connection_for(session, tenant_id, kind, record_id)
    if conn is None:
        return None
    box = SecretBox(encryption_key(settings))
    instance_url = conn.instance_url.rstrip("/")
    if is_sandbox_url(instance_url):
        instance_url = live_sandbox_url(settings) or instance_url
    tokens = OAuthTokens(access_token=box.decrypt(conn.access_token_enc),
                         refresh_token=box.decrypt(conn.refresh_token_enc),
                         instance_url=instance_url, expires_at=conn.expires_at)
    app = oauth_app(settings, conn.kind, instance_url)
    saver = _saver(session, box, conn.id)
    if conn.kind == "salesforce":
        from plugin.crm.salesforce import SalesforceAdapter

        return SalesforceAdapter(tenant_id, tokens, app,
                                 api_version=settings.salesforce_api_version, on_tokens=saver)
    if conn.kind == "hubspot":
        from plugin.crm.hubspot import HubSpotAdapter

        return HubSpotAdapter(tenant_id, tokens, app, on_tokens=saver)
    log.warning("tenant %s has a connection of unknown kind %r", tenant_id, conn.kind)
    return None


def interactive(adapter: CrmAdapter) -> CrmAdapter:
    """Make ``adapter`` fail fast (2 tries, 8 s read timeout) for reads someone waits on
    (a widget, a call starting); the default policy suits background write-back."""
    from plugin.crm.retry import INTERACTIVE_POLICY, INTERACTIVE_TIMEOUT

    targets = list(adapter.adapters.values()) if isinstance(adapter, RoutingAdapter) \
        else [adapter]
    for target in targets:
        target.policy = INTERACTIVE_POLICY  # type: ignore[attr-defined]
        target.timeout = INTERACTIVE_TIMEOUT  # type: ignore[attr-defined]
    return adapter


def save_connection(session: Session, settings: Settings, tenant_id: str, kind: str,
                    tokens: OAuthTokens, connected_by: int | None = None) -> CrmConnection:
    """Create or update the tenant's connection of ``kind`` with encrypted tokens."""
    if kind not in KINDS:
        raise ValueError(f"unknown CRM kind {kind!r}")
    box = SecretBox(encryption_key(settings))
    conn = session.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant_id,
                                                      CrmConnection.kind == kind))
    if conn is None:
        conn = CrmConnection(tenant_id=tenant_id, kind=kind)
        session.add(conn)
    conn.instance_url = tokens.instance_url.rstrip("/")
    conn.access_token_enc = box.encrypt(tokens.access_token)
    conn.refresh_token_enc = box.encrypt(tokens.refresh_token)
    conn.expires_at = tokens.expires_at
    conn.status = "connected"
    if connected_by is not None:
        conn.connected_by = connected_by
    session.flush()
    return conn
