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
    from plugin.web.core import demo_identity

    with app.app_context():
        identity = demo_identity()
    return {"Authorization": f"Bearer {app.extensions['salescoach.signer'].issue(identity)}"}
