"""Shared fixtures: a migrated database (PostgreSQL in CI, SQLite elsewhere), the app, clients.

Set SALESCOACH_TEST_DATABASE_URL (CI does, via the Makefile) to run against a server: each
test session then creates and drops its own database there, so runs never collide.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugin.db import db
from plugin.security import Identity
from tests.support import migrated_database


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database for this test session."""
    yield from migrated_database(tmp_path_factory, "session")


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def app(database_url: str, instance_path: Path, app_overrides: dict[str, Any]) -> Any:
    from plugin.app import create_app

    overrides = {"env": "test", "database_url": database_url, "instance_path": instance_path,
                 "secret_key": "test-secret", "demo": True, **app_overrides}
    return create_app(overrides)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


class Tenants:
    """Makes tenants with a user each and the bearer headers of their sessions."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def identity(self, tenant_id: str = "demo", crm_user_id: str = "rep-1",
                 record_id: str = "", record_type: str = "") -> Identity:
        from plugin.tenancy import ensure_tenant, ensure_user

        with db.session_scope() as s:
            ensure_tenant(s, tenant_id, "demo" if tenant_id == "demo" else "salesforce")
            user = ensure_user(s, tenant_id, crm_user_id, name=f"Rep {crm_user_id}")
            return Identity(tenant_id=tenant_id, user_id=user.id, crm_user_id=crm_user_id,
                            name=user.name, record_id=record_id, record_type=record_type)

    def headers(self, identity: Identity) -> dict[str, str]:
        token = self.app.extensions["salescoach.signer"].issue(identity)
        return {"Authorization": f"Bearer {token}"}

    def token(self, identity: Identity) -> str:
        return str(self.app.extensions["salescoach.signer"].issue(identity))


@pytest.fixture
def tenants(app: Any) -> Tenants:
    return Tenants(app)
