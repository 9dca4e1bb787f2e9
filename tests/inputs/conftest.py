"""Apps with CRM app secrets set, so the signed entry points verify (and refuse) for real."""

from __future__ import annotations

from typing import Any

import pytest

SF_SECRET = "sf-consumer-secret"
HS_SECRET = "hs-client-secret"
BASE = "https://coach.example.test"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"salesforce_client_id": "sf-client", "salesforce_client_secret": SF_SECRET,
            "hubspot_client_id": "hs-client", "hubspot_client_secret": HS_SECRET,
            "public_base_url": BASE}


@pytest.fixture
def admin_headers(app: Any) -> dict[str, str]:
    """A real session of the demo tenant's admin."""
    return {"Authorization": f"Bearer {app.extensions['salescoach.signer'].issue(admin(app))}"}


def admin(app: Any) -> Any:
    """The demo tenant's rep, made admin again (other test modules may have changed it)."""
    from dataclasses import replace

    from plugin.db import db
    from plugin.models import User
    from plugin.web.core import demo_identity

    with app.app_context():
        identity = demo_identity()
        with db.session_scope() as s:
            user = s.get(User, identity.user_id)
            assert user is not None
            user.role = "admin"
    return replace(identity, role="admin")
