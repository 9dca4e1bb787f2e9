"""Column helpers shared by every model module."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from plugin.db import Base

__all__ = ["Base", "TenantScoped", "utcnow", "new_id", "JSONType"]

JSONType = JSON().with_variant(JSON(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class TenantScoped:
    """Mixin: every row that belongs to a customer org carries its tenant id."""

    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def as_dict(row: Any, *fields: str) -> dict[str, Any]:
    """Plain dict of selected attributes, datetimes as ISO strings (for JSON responses)."""
    out: dict[str, Any] = {}
    for f in fields:
        v = getattr(row, f)
        out[f] = v.isoformat() if isinstance(v, datetime) else v
    return out
