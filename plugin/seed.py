"""Demo data: the demo tenant, its rep and its playbook, so the product works out of the box."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from plugin.db import db
from plugin.models import Playbook, Tenant
from plugin.settings import Settings
from plugin.tenancy import DEMO_REP, DEMO_TENANT, ensure_tenant, ensure_user


def seed_demo(settings: Settings) -> str:
    """Idempotently create the demo tenant and rep; return a one-line summary."""
    db.configure(settings.database_url)
    with db.session_scope() as s:
        tenant: Tenant = ensure_tenant(s, DEMO_TENANT, "demo", "Demo Org")
        ensure_user(s, DEMO_TENANT, DEMO_REP, "Dana Demo", "dana@example.com", role="admin")
        if tenant.playbook_id is None:
            existing = s.scalar(select(Playbook).where(Playbook.tenant_id == DEMO_TENANT))
            if existing is None:
                from plugin.coach.playbook import DEFAULT_PLAYBOOK_PATH

                existing = Playbook(tenant_id=DEMO_TENANT, name="Default playbook",
                                    yaml_text=DEFAULT_PLAYBOOK_PATH.read_text())
                s.add(existing)
                s.flush()
            tenant.playbook_id = existing.id
    for hook in SEED_HOOKS:
        hook(settings)
    return f"demo tenant '{DEMO_TENANT}' ready (rep '{DEMO_REP}')"


# Other areas' seeders (e.g. demo calls), each ``fn(settings) -> None``; one line per area.
SEED_HOOKS: list[Callable[[Settings], None]] = []

from plugin.crm.seed import connect_sandbox  # noqa: E402 - CRM sandbox connections

SEED_HOOKS.append(connect_sandbox)
