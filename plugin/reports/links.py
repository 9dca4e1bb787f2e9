"""Read-only links to one call's report, for the CRM activity (no panel session needed).

The CRM user who clicks the link has no Sales Coach session, so the link carries a signed,
tenant-bound capability for that one report (read only; revoked by rotating the secret key).
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from plugin.security import secret_key
from plugin.settings import Settings

SALT = "salescoach.report-link.v1"


def share_token(settings: Settings, tenant_id: str, call_id: str) -> str:
    return str(URLSafeSerializer(secret_key(settings), salt=SALT).dumps([tenant_id, call_id]))


def read_share_token(settings: Settings, token: str) -> tuple[str, str] | None:
    """(tenant_id, call_id) of a valid link token, else None."""
    try:
        tenant_id, call_id = URLSafeSerializer(secret_key(settings), salt=SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    return str(tenant_id), str(call_id)


def report_url(settings: Settings, tenant_id: str, call_id: str) -> str:
    token = share_token(settings, tenant_id, call_id)
    return f"{settings.public_base_url}/panel/calls/{call_id}?s={token}"
