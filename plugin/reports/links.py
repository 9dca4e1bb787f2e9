"""Read-only links to one call's report, for the CRM activity (no panel session needed).

The CRM user who clicks the link has no Sales Coach session, so the link carries a signed,
tenant-bound capability for that one report (read only). A link expires after
``SALESCOACH_SHARE_LINK_TTL_S`` (default 7 days) and every link of a call issued before
``calls.shares_revoked_at`` is refused (the owner or an admin revokes them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from plugin.security import secret_key
from plugin.settings import Settings

SALT = "salescoach.report-link.v2"


@dataclass(frozen=True, slots=True)
class ShareLink:
    tenant_id: str
    call_id: str
    issued_ms: int

    def revoked_by(self, revoked_at: datetime | None) -> bool:
        return revoked_at is not None and self.issued_ms <= int(revoked_at.timestamp() * 1000)


class ShareLinkError(Exception):
    """The link is forged, malformed (``reason`` "invalid") or too old ("expired")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(settings), salt=SALT)


def share_token(settings: Settings, tenant_id: str, call_id: str) -> str:
    return str(_serializer(settings).dumps([tenant_id, call_id, int(time.time() * 1000)]))


def read_share_token(settings: Settings, token: str) -> ShareLink:
    """The link a token carries; ``ShareLinkError`` when forged, malformed or expired."""
    try:
        tenant_id, call_id, issued_ms = _serializer(settings).loads(
            token, max_age=settings.share_link_ttl_s)
    except SignatureExpired:
        raise ShareLinkError("expired") from None
    except (BadSignature, ValueError, TypeError):
        raise ShareLinkError("invalid") from None
    if not isinstance(issued_ms, int):
        raise ShareLinkError("invalid")
    return ShareLink(str(tenant_id), str(call_id), issued_ms)


def report_url(settings: Settings, tenant_id: str, call_id: str) -> str:
    token = share_token(settings, tenant_id, call_id)
    return f"{settings.public_base_url}/panel/calls/{call_id}?s={token}"
