"""Privacy receipts as the API and the admin page show them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.models import PrivacyReceipt


def receipt_dict(r: PrivacyReceipt, full: bool = True) -> dict[str, Any]:
    """A receipt; ``full=False`` leaves out the id lists (for listings)."""
    out: dict[str, Any] = {
        "id": r.id, "tenant_id": r.tenant_id, "action": r.action,
        "subject": {"kind": r.subject_kind, "id": r.subject_id}, "actor": r.actor,
        "at": r.created_at.isoformat() if r.created_at else None,
        "counts": dict(r.counts or {}), "files": len(r.files or []),
        "crm_activities": list(r.crm_activities or [])}
    if full:
        out["ids"] = dict(r.ids or {})
        out["files"] = list(r.files or [])
    return out


def receipts(session: Session, tenant_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The tenant's receipts, newest first, without their id lists."""
    rows = session.scalars(select(PrivacyReceipt).where(PrivacyReceipt.tenant_id == tenant_id)
                           .order_by(PrivacyReceipt.created_at.desc()).limit(limit))
    return [receipt_dict(r, full=False) for r in rows]


def receipt(session: Session, tenant_id: str, receipt_id: str) -> dict[str, Any] | None:
    row = session.get(PrivacyReceipt, receipt_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    return receipt_dict(row)
