"""Calls (live, replayed or uploaded), their turns and the nudges the coach gave."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models._base import Base, JSONType, TenantScoped, new_id


class Call(TenantScoped, Base):
    __tablename__ = "calls"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    record_id: Mapped[str] = mapped_column(String(64), default="")  # CRM record (contact, lead…)
    record_type: Mapped[str] = mapped_column(String(32), default="")
    # panel | twilio | recording | replay
    source: Mapped[str] = mapped_column(String(16), default="panel")
    direction: Mapped[str] = mapped_column(String(16), default="outbound")
    status: Mapped[str] = mapped_column(String(16), default="live")  # live|ended|analysed|failed
    title: Mapped[str] = mapped_column(String(255), default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    # Recording consent (migration 0006_privacy, plugin.privacy.consent): the tenant's policy
    # when the call started and what the client stated ("", "notified", "obtained").
    consent_policy: Mapped[str] = mapped_column(String(16), default="", server_default="")
    consent: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # Report links (``?s=``) issued before this instant no longer open (revoked).
    shares_revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                               nullable=True)


class Turn(TenantScoped, Base):
    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("call_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(16))  # rep | customer
    text: Mapped[str] = mapped_column(Text)
    start_ms: Mapped[int] = mapped_column(Integer)
    end_ms: Mapped[int] = mapped_column(Integer)
    words: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    analysis: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Nudge(TenantScoped, Base):
    __tablename__ = "nudges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str | None] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), index=True, nullable=True
    )
    turn_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at_ms: Mapped[int] = mapped_column(Integer, default=0)
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))  # info | warn | critical
    text: Mapped[str] = mapped_column(String(500))
    rule: Mapped[str] = mapped_column(String(64))  # rule id or "model:<name>"
    source: Mapped[str] = mapped_column(String(16), default="instant")  # instant | deep
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)  # +1 / -1
    rated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
