"""Seed hook: connect the demo tenant and the sandbox's own org/portal tenants to the CRM
sandbox (tokens minted in the sandbox's database, stored encrypted), so ``make run`` works
end to end without an OAuth round trip."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from plugin.crm.factory import save_connection
from plugin.crm.tokens import OAuthTokens
from plugin.db import db
from plugin.models import CrmConnection
from plugin.settings import Settings
from plugin.tenancy import DEMO_TENANT, ensure_tenant, ensure_user

log = logging.getLogger(__name__)


def sandbox_tenants(settings: Settings) -> list[tuple[str, str]]:
    """(tenant id, kind) pairs the sandbox serves: the demo tenant (both CRMs), the sandbox
    Salesforce org and the sandbox HubSpot portal."""
    from plugin.sandbox.config import load_identity, sandbox_paths

    ident = load_identity(sandbox_paths(settings.instance_path))
    return [(DEMO_TENANT, "salesforce"), (DEMO_TENANT, "hubspot"),
            (f"sf:{ident['sf_org_id']}", "salesforce"), (f"hs:{ident['hs_portal_id']}", "hubspot")]


def connect_sandbox(settings: Settings) -> None:
    """Idempotent: existing connected connections (e.g. made through OAuth) are kept."""
    if not settings.demo:
        return
    from plugin.sandbox.app import open_state
    from plugin.sandbox.config import sandbox_credentials

    state = open_state(settings.instance_path)
    creds = sandbox_credentials(settings)
    db.configure(settings.database_url)
    with db.session_scope() as s:
        ensure_tenant(s, f"sf:{creds.sf_org_id}", "salesforce", "CRM sandbox org")
        ensure_user(s, f"sf:{creds.sf_org_id}", creds.sf_user_id, "Dana Demo",
                    "dana@example.com", role="admin")
        ensure_tenant(s, f"hs:{creds.hs_portal_id}", "hubspot", "CRM sandbox portal")
        ensure_user(s, f"hs:{creds.hs_portal_id}", creds.hs_user_id, "Dana Demo",
                    "dana@example.com", role="admin")
        for tenant_id, kind in sandbox_tenants(settings):
            existing = s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant_id,
                                                            CrmConnection.kind == kind))
            if existing is not None and existing.status == "connected" and \
                    existing.access_token_enc:
                continue
            client = creds.sf_client_id if kind == "salesforce" else creds.hs_client_id
            minted = state.store.issue_tokens(kind, client)
            expires = datetime.now(UTC) + timedelta(seconds=int(minted["expires_in"]))
            save_connection(s, settings, tenant_id, kind, OAuthTokens(
                access_token=minted["access_token"], refresh_token=minted["refresh_token"],
                instance_url=creds.base_url, expires_at=expires))
            log.info("connected %s to the CRM sandbox (%s)", tenant_id, kind)
