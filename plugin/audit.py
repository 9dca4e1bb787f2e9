"""The audit log of admin actions: every write goes through ``record`` (one helper, one
table), in the same transaction as the change it describes.

Targets and details hold ids and setting values, never names or content, so the log can be
kept after a person's data is erased (their own entries as actor are pseudonymised then).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.models import AuditEvent, as_dict

SYSTEM = "system"


def actor_of(identity: Any) -> tuple[str, str]:
    """(actor id, display name) of an ``Identity``, a plain string, or None (the system)."""
    if identity is None:
        return SYSTEM, ""
    if isinstance(identity, str):
        return identity, ""
    return str(getattr(identity, "crm_user_id", "") or ""), str(getattr(identity, "name", ""))


def record(session: Session, tenant_id: str, actor: Any, action: str, target: str = "",
           **details: Any) -> AuditEvent:
    """Add one audit event to ``session`` (committed with the caller's change)."""
    who, name = actor_of(actor)
    event = AuditEvent(tenant_id=tenant_id, actor=who[:255], actor_name=name[:255],
                       action=action[:64], target=target[:255], details=details)
    session.add(event)
    return event


def events(session: Session, tenant_id: str, limit: int = 200,
           before_id: int | None = None) -> list[dict[str, Any]]:
    """The tenant's audit events, newest first (``before_id`` pages back)."""
    q = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if before_id is not None:
        q = q.where(AuditEvent.id < before_id)
    rows = session.scalars(q.order_by(AuditEvent.id.desc()).limit(limit))
    return [as_dict(r, "id", "at", "actor", "actor_name", "action", "target", "details")
            for r in rows]
