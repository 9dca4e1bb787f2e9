"""CRM sandbox fixtures: a real HTTPS sandbox (local CA) on a free port, and tenants
connected to it with encrypted tokens.

``sandbox`` (module scope) runs on the test ``instance_path``, so the app's settings find the
same CA and OAuth credentials. Use ``sandbox.fault(...)``, ``sandbox.activities()``,
``sandbox.requests()``, ``sandbox.expire_tokens()``, ``sandbox.reset()``,
``sandbox.person("maria")`` and ``sandbox.connect(settings, "salesforce")`` in tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from plugin.db import db
from plugin.sandbox.server import SandboxHandle, start_sandbox
from plugin.settings import Settings, load_settings
from tests.support import serve_wsgi


class Sandbox:
    """A running sandbox plus helpers for its admin endpoints (over HTTPS, trusting its CA)."""

    def __init__(self, handle: SandboxHandle) -> None:
        self.handle = handle
        self.base_url = handle.base_url
        self.ca_path = handle.ca_path

    @property
    def admin_headers(self) -> dict[str, str]:
        return dict(self.handle.admin_headers)

    @property
    def ident(self) -> dict[str, str]:
        return dict(self.handle.state.ident)

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = requests.request(method, self.base_url + "/_sandbox" + path, verify=self.ca_path,
                                headers=self.handle.admin_headers, timeout=10, **kwargs)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def fault(self, **spec: Any) -> None:
        """e.g. ``fault(path="/services/data", status=429, retry_after=1, count=2)``."""
        self.admin("POST", "/faults", json=spec)

    def clear(self) -> None:
        self.admin("DELETE", "/faults")
        self.admin("DELETE", "/requests")

    def reset(self) -> None:
        self.admin("POST", "/reset")

    def activities(self, crm: str = "") -> list[dict[str, Any]]:
        return list(self.admin("GET", "/activities", params={"crm": crm} if crm else None)
                    ["activities"])

    def requests(self, prefix: str = "") -> list[dict[str, Any]]:
        return [r for r in self.admin("GET", "/requests")["requests"]
                if r["path"].startswith(prefix)]

    def expire_tokens(self, token: str = "") -> int:
        return int(self.admin("POST", "/tokens/expire", json={"token": token} if token else {})
                   ["expired"])

    def mint(self, vendor: str) -> dict[str, Any]:
        return dict(self.admin("POST", "/tokens", json={"vendor": vendor}))

    def people(self) -> list[dict[str, str]]:
        return list(self.admin("GET", "/directory")["people"])

    def person(self, key: str) -> dict[str, str]:
        return next(p for p in self.people() if p["key"] == key)

    def connect(self, settings: Settings, kind: str, tenant_id: str = "") -> str:
        """A tenant (new unless given) connected to this sandbox's ``kind`` with newly minted,
        encrypted tokens; returns its id."""
        from plugin.crm import OAuthTokens, save_connection
        from plugin.tenancy import ensure_tenant

        tenant_id = tenant_id or f"t-{kind}-{uuid.uuid4().hex[:8]}"
        minted = self.mint(kind)
        with db.session_scope() as s:
            ensure_tenant(s, tenant_id, kind)
            save_connection(s, settings, tenant_id, kind, OAuthTokens(
                access_token=minted["access_token"], refresh_token=minted["refresh_token"],
                instance_url=self.base_url,
                expires_at=datetime.now(UTC) + timedelta(seconds=int(minted["expires_in"]))))
        return tenant_id


@pytest.fixture(scope="module")
def sandbox(instance_path: Path) -> Iterator[Sandbox]:
    handle = start_sandbox(instance_path)
    yield Sandbox(handle)
    handle.stop()


@pytest.fixture
def crm_settings(database_url: str, instance_path: Path) -> Settings:
    """Settings of the test instance (same CA and sandbox identity as ``sandbox``)."""
    settings = load_settings({"instance_path": instance_path, "database_url": database_url,
                              "env": "test", "secret_key": "test-secret", "demo": True})
    db.configure(settings.database_url)
    return settings


@pytest.fixture(scope="module")
def crm_sandbox(instance_path: Path) -> Iterator[SandboxHandle]:
    """A sandbox of its own for a module that overrides ``instance_path`` (demo pages)."""
    handle = start_sandbox(instance_path)
    yield handle
    handle.stop()


@pytest.fixture
def web(app: Any, crm_sandbox: SandboxHandle) -> Iterator[str]:
    """The web app on a real port; the sandbox's demo pages post and fetch to it."""
    with serve_wsgi(app) as url:
        app.config["SETTINGS"].public_base_url = url
        crm_sandbox.app.config["SALESCOACH_WEB_BASE_URL"] = url
        yield url
