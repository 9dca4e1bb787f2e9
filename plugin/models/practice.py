"""Practice sessions against a simulated buyer, and each scored reply."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models._base import Base, JSONType, TenantScoped, new_id


class PracticeSession(TenantScoped, Base):
    __tablename__ = "practice_sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    scenario_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | finished
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # buyer state
    scorecard: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PracticeReply(TenantScoped, Base):
    __tablename__ = "practice_replies"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("practice_sessions.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    buyer_text: Mapped[str] = mapped_column(Text)  # what the buyer said before this reply
    objection: Mapped[str] = mapped_column(String(64), default="")
    reply_text: Mapped[str] = mapped_column(Text)
    scores: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    improved: Mapped[str] = mapped_column(Text, default="")
    buyer_response: Mapped[str] = mapped_column(Text, default="")
