"""Tenant walls: every lookup of a tenant-owned row goes through these helpers."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.models import Tenant, User
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
