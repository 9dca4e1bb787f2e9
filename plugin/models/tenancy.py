"""Tenants (a Salesforce org or HubSpot portal), their users, playbooks and CRM connections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models._base import Base, JSONType, TenantScoped, utcnow


class Tenant(Base):
    """A customer org. ``id`` is ``sf:<org id>``, ``hs:<portal id>`` or ``demo``."""

    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # salesforce | hubspot | demo
    name: Mapped[str] = mapped_column(String(255), default="")
    playbook_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Tenant options set on the admin page, e.g. {"crm_notes_include_coaching": true}.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Team(TenantScoped, Base):
    """A group of reps with their manager (``users.team_id``); managers see their team's
    calls (docs/security.md)."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))


class User(TenantScoped, Base):
    """A rep, manager or admin of a tenant, identified by their CRM user id."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "crm_user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crm_user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(16), default="rep")  # rep | manager | admin
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True, index=True)


class Playbook(TenantScoped, Base):
    """A tenant's playbook YAML (thresholds, trackers, battlecards, checklist)."""

    __tablename__ = "playbooks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    yaml_text: Mapped[str] = mapped_column(Text)


class CrmConnection(TenantScoped, Base):
    """OAuth connection of a tenant to its CRM; tokens are Fernet-encrypted at rest."""

    __tablename__ = "crm_connections"
    __table_args__ = (UniqueConstraint("tenant_id", "kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # salesforce | hubspot
    instance_url: Mapped[str] = mapped_column(String(512), default="")
    access_token_enc: Mapped[str] = mapped_column(Text, default="")
    refresh_token_enc: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="connected")  # connected | disconnected
    connected_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
