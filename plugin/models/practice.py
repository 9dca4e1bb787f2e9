"""Practice sessions against a simulated buyer, and each scored reply."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
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


class PracticeScenario(TenantScoped, Base):
    """A scenario a manager authored for one tenant (the YAML as written, validated on save)."""

    __tablename__ = "practice_scenarios"
    __table_args__ = (UniqueConstraint("tenant_id", "scenario_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255), default="")
    yaml_text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PracticeAssignment(TenantScoped, Base):
    """A scenario assigned to a rep, with a due date; done when the rep finishes a session."""

    __tablename__ = "practice_assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    assigned_by: Mapped[str] = mapped_column(String(255), default="")


class PracticeDrill(TenantScoped, Base):
    """One free-form drill attempt: a customer line, the rep's answer and its feedback."""

    __tablename__ = "practice_drills"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    customer_line: Mapped[str] = mapped_column(Text)
    reply_text: Mapped[str] = mapped_column(Text)
    scenario_id: Mapped[str] = mapped_column(String(64), default="")
    previous_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="text")
    scores: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    improved: Mapped[str] = mapped_column(Text, default="")
