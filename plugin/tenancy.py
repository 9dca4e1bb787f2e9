"""Walls: every lookup of a tenant-owned row goes through these helpers.

Two walls (docs/security.md): the tenant (``get_owned``: another org's row is a 404), and
inside a tenant the person (``visible`` / ``visible_filter``): a rep sees their own calls,
recordings and practice; a manager also their team's; an admin the whole tenant. Acting on
someone's call (rating its nudges, fixing speakers, re-analysing) is for its owner and
admins, not managers. A row nobody may see answers 404, exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from plugin.models import (
    Call,
    Nudge,
    PracticeDrill,
    PracticeReply,
    PracticeSession,
    Recording,
    Report,
    Tenant,
    Turn,
    User,
)
from plugin.security import Identity
from plugin.web.errors import not_found

M = TypeVar("M")

DEMO_TENANT = "demo"
DEMO_REP = "demo-rep"


def get_owned(session: Session, model: type[M], pk: Any, tenant_id: str, what: str = "") -> M:
    """Row ``pk`` of ``model`` if it belongs to ``tenant_id``; otherwise a 404 (never a 403,
    which would confirm that another tenant's row exists)."""
    row = session.get(model, pk)
    if row is None or getattr(row, "tenant_id", None) != tenant_id:
        raise not_found(what or model.__name__.lower())
    return row


ROLES = ("rep", "manager", "admin")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking, as the database says now (a role or team change applies at once,
    whatever the session token was issued with)."""

    tenant_id: str
    user_id: int
    role: str
    team: frozenset[int]  # user ids a manager oversees (their team, themselves included)

    def may_see(self, owner_id: int | None) -> bool:
        if owner_id is not None and owner_id == self.user_id:
            return True
        if self.role == "admin":
            return True
        return self.role == "manager" and owner_id is not None and owner_id in self.team

    def may_act(self, owner_id: int | None) -> bool:
        """Change someone's call (rate, fix speakers, re-analyse): the owner or an admin."""
        return (owner_id is not None and owner_id == self.user_id) or self.role == "admin"


def viewer(session: Session, identity: Identity) -> Viewer:
    """The viewer of ``identity``, cached on the database session (one lookup a request)."""
    cache: dict[tuple[str, int], Viewer] = session.info.setdefault("salescoach.viewers", {})
    key = (identity.tenant_id, identity.user_id)
    found = cache.get(key)
    if found is not None:
        return found
    user = session.get(User, identity.user_id)
    if user is None or user.tenant_id != identity.tenant_id:
        # A token for a user who no longer exists sees nothing but what they own (nothing).
        found = Viewer(identity.tenant_id, identity.user_id, "rep", frozenset())
    else:
        team: frozenset[int] = frozenset({user.id})
        if user.role == "manager" and user.team_id is not None:
            team = frozenset(session.scalars(select(User.id).where(
                User.tenant_id == user.tenant_id, User.team_id == user.team_id))) | team
        found = Viewer(user.tenant_id, user.id, user.role if user.role in ROLES else "rep",
                       team)
    cache[key] = found
    return found


# Models whose rows belong to one person, and how to find that person.
_OWNED_DIRECTLY: tuple[type[Any], ...] = (Call, Recording, PracticeSession, PracticeDrill)
_OWNED_THROUGH_CALL: tuple[type[Any], ...] = (Nudge, Turn, Report)


def owner_of(session: Session, row: Any) -> int | None:
    """The user id who owns ``row`` (None: nobody, so only admins see it)."""
    if isinstance(row, _OWNED_DIRECTLY):
        return row.user_id
    if isinstance(row, _OWNED_THROUGH_CALL):
        call = session.get(Call, row.call_id) if row.call_id else None
        return call.user_id if call is not None else None
    if isinstance(row, PracticeReply):
        ps = session.get(PracticeSession, row.session_id)
        return ps.user_id if ps is not None else None
    raise TypeError(f"{type(row).__name__} has no owner; use get_owned for tenant-wide rows")


def visible(session: Session, model: type[M], pk: Any, identity: Identity, what: str = "",
            *, act: bool = False) -> M:
    """Row ``pk`` of ``model`` if ``identity`` may see it (``act``: may change it); else the
    same 404 as for a row that does not exist."""
    row = get_owned(session, model, pk, identity.tenant_id, what)
    who = viewer(session, identity)
    owner = owner_of(session, row)
    if not (who.may_act(owner) if act else who.may_see(owner)):
        raise not_found(what or model.__name__.lower())
    return row


def visible_filter(session: Session, model: Any, identity: Identity) -> ColumnElement[bool]:
    """WHERE clause of the rows of ``model`` (a model with ``user_id``) ``identity`` sees."""
    who = viewer(session, identity)
    in_tenant = model.tenant_id == identity.tenant_id
    if who.role == "admin":
        return in_tenant & true()
    if who.role == "manager":
        return in_tenant & model.user_id.in_(sorted(who.team))
    return in_tenant & (model.user_id == who.user_id) if who.user_id else in_tenant & false()


def may_see_call(session: Session, identity: Identity, call_id: str, *,
                 act: bool = False) -> bool:
    """Whether ``identity`` may see (``act``: feed or stop) the call, for the live socket."""
    call = session.get(Call, call_id) if isinstance(call_id, str) and call_id else None
    if call is None or call.tenant_id != identity.tenant_id:
        return False
    who = viewer(session, identity)
    if act:  # audio and stop: the owner only, never an admin or a manager
        return call.user_id is not None and call.user_id == who.user_id
    return who.may_see(call.user_id)


def ensure_tenant(session: Session, tenant_id: str, kind: str, name: str = "") -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        tenant = Tenant(id=tenant_id, kind=kind, name=name or tenant_id)
        session.add(tenant)
        session.flush()
    elif name and tenant.name != name:
        tenant.name = name
    return tenant


def ensure_user(session: Session, tenant_id: str, crm_user_id: str, name: str = "",
                email: str = "", role: str = "rep") -> User:
    user = session.scalar(
        select(User).where(User.tenant_id == tenant_id, User.crm_user_id == crm_user_id)
    )
    if user is None:
        user = User(tenant_id=tenant_id, crm_user_id=crm_user_id, name=name or crm_user_id,
                    email=email, role=role)
        session.add(user)
        session.flush()
    else:
        if name:
            user.name = name
        if email:
            user.email = email
    return user
