"""The audit log of admin actions and the receipts of privacy exports, erasures and
retention runs.

Neither table has a foreign key to ``tenants``: a tenant's erasure receipt must outlive the
tenant it proves was erased. Both hold ids, counts and setting values, never content.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models._base import Base, JSONType, new_id, utcnow


class AuditEvent(Base):
    """One admin action (settings, playbooks, practice content, CRM connections, privacy)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # Who: the CRM user id and name of the admin, or "system" / "cli:<os user>".
    actor: Mapped[str] = mapped_column(String(255), default="")
    actor_name: Mapped[str] = mapped_column(String(255), default="")
    action: Mapped[str] = mapped_column(String(64))  # e.g. settings.change, privacy.delete
    target: Mapped[str] = mapped_column(String(255), default="")  # ids only, never names
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class PrivacyReceipt(Base):
    """What an export, erasure or retention run touched: counts and ids per table, files,
    CRM activities left in the CRM, who asked and when."""

    __tablename__ = "privacy_receipts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))  # export | delete | retention
    subject_kind: Mapped[str] = mapped_column(String(16))  # contact | rep | tenant | retention
    subject_id: Mapped[str] = mapped_column(String(255), default="")
    actor: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    ids: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    files: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    crm_activities: Mapped[list[Any]] = mapped_column(JSONType, default=list)
