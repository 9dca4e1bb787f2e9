"""Who becomes a tenant's admin: the installer, by an explicit claim, never "the first user".

- ``claim_admin``: ``salescoach tenant claim-admin --tenant sf:00D… --user 005…`` (run by
  whoever operates the instance) makes that CRM user the tenant's admin.
- ``new_claim_code`` / ``redeem_claim_code``: ``salescoach tenant claim-code`` prints a
  one-time code (valid 24 h, stored hashed); the installer opens
  ``/admin/connect/<crm>?claim=<code>`` and becomes admin of the org the CRM signs them in to.
- ``set_role``: appoint reps, managers (with their team) and admins.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from plugin import audit
from plugin.models import TaskLock, Team, User
from plugin.tenancy import ROLES, ensure_tenant, ensure_user

CLAIM_PREFIX = "claim-admin:"
CLAIM_TTL_S = 24 * 3600


def _kind_of(tenant_id: str) -> str:
    if tenant_id.startswith("sf:"):
        return "salesforce"
    if tenant_id.startswith("hs:"):
        return "hubspot"
    raise ValueError(f"tenant ids look like sf:<org id> or hs:<portal id>, got {tenant_id!r}")


def claim_admin(session: Session, tenant_id: str, crm_user_id: str,
                reason: str = "claim-admin") -> User:
    """Make ``crm_user_id`` an admin of ``tenant_id`` (both created when new); audited as a
    ``role.grant``."""
    ensure_tenant(session, tenant_id, _kind_of(tenant_id))
    user = ensure_user(session, tenant_id, crm_user_id)
    if user.role != "admin":
        audit.record(session, tenant_id, "system", "role.grant", f"user:{crm_user_id}",
                     role="admin", reason=reason, previous=user.role)
    user.role = "admin"
    session.flush()
    return user


def set_role(session: Session, tenant_id: str, crm_user_id: str, role: str,
             team: str | None = None) -> User:
    """Set a user's role and (``team``; "" clears it) team; the team is created if new."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    user = session.scalar(select(User).where(User.tenant_id == tenant_id,
                                             User.crm_user_id == crm_user_id))
    if user is None:
        raise LookupError(f"no user {crm_user_id!r} in tenant {tenant_id!r}")
    audit.record(session, tenant_id, "system", "role.change", f"user:{crm_user_id}",
                 **{"from": user.role, "to": role}, team=team)
    user.role = role
    if team is not None:
        if team == "":
            user.team_id = None
        else:
            row = session.scalar(select(Team).where(Team.tenant_id == tenant_id,
                                                    Team.name == team))
            if row is None:
                row = Team(tenant_id=tenant_id, name=team[:255])
                session.add(row)
                session.flush()
            user.team_id = row.id
    session.flush()
    return user


def _key(code: str) -> str:
    return CLAIM_PREFIX + hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def new_claim_code(session: Session, ttl_s: int = CLAIM_TTL_S) -> str:
    """A one-time install code; only its hash is stored."""
    code = secrets.token_urlsafe(18)
    session.add(TaskLock(key=_key(code), owner="claim-code",
                         expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s)))
    session.flush()
    return code


def redeem_claim_code(session: Session, code: str) -> bool:
    """Use a claim code up (True once, within its lifetime)."""
    if not code or len(code) > 128:
        return False
    gone = session.execute(delete(TaskLock).where(TaskLock.key == _key(code),
                                                  TaskLock.expires_at > datetime.now(UTC))
                           .execution_options(synchronize_session=False))
    return bool(gone.rowcount)  # type: ignore[attr-defined]
