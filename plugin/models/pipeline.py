"""Post-call work: uploaded recordings, reports, and the CRM write-back outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models._base import Base, JSONType, TenantScoped, new_id, utcnow


class Recording(TenantScoped, Base):
    __tablename__ = "recordings"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"), nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done|failed
    stage: Mapped[str] = mapped_column(String(32), default="uploaded")
    progress: Mapped[int] = mapped_column(Integer, default=0)  # 0..100
    error: Mapped[str] = mapped_column(Text, default="")


class Report(TenantScoped, Base):
    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("call_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class OutboxItem(TenantScoped, Base):
    """Something to write to the CRM, persisted before any attempt (exactly-once write-back)."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32), default="call_activity")
    crm: Mapped[str] = mapped_column(String(16))  # salesforce | hubspot
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # pending | sending | done | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    crm_id: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Claim lease (migration 0002_workers): who is sending it and until when the claim holds;
    # a claim past its lease belongs to a dead worker and may be taken over.
    claimed_by: Mapped[str] = mapped_column(String(255), default="", server_default="")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class OutboxAttempt(TenantScoped, Base):
    __tablename__ = "outbox_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # ok | retry | failed
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)




class TaskLock(Base):
    """A short-lived lock on a unit of pipeline work (Superset's ``task_lock``), e.g.
    ``transcribe:<recording id>``. Infrastructure, not tenant data: it holds no content and
    lives only while the work runs (or until ``expires_at`` if its worker died)."""

    __tablename__ = "task_locks"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
