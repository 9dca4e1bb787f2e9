"""The skeleton: settings fail fast, migrations go up and down, sessions guard the API."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, inspect

from plugin import migrate
from plugin.settings import SettingsError, load_settings


def test_invalid_settings_fail_fast_with_the_variable_named(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Any) -> None:
    monkeypatch.setenv("SALESCOACH_PORT", "seventy")
    with pytest.raises(SettingsError) as exc:
        load_settings({"instance_path": tmp_path})
    assert "SALESCOACH_PORT" in str(exc.value)


def test_instance_env_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Any) -> None:
    (tmp_path / "salescoach.env").write_text("# comment\nSALESCOACH_PORT=6001\nHOST=0.0.0.0\n")
    monkeypatch.setenv("SALESCOACH_HOST", "127.0.0.2")
    s = load_settings({"instance_path": tmp_path})
    assert s.port == 6001 and s.host == "127.0.0.2"


def test_malformed_instance_env_file_names_the_line(tmp_path: Any) -> None:
    (tmp_path / "salescoach.env").write_text("PORT=1\nnonsense\n")
    with pytest.raises(SettingsError, match="salescoach.env:2"):
        load_settings({"instance_path": tmp_path})


def test_migrations_go_up_and_down_cleanly(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"tenants", "calls", "turns", "nudges", "outbox"} <= tables
    assert not migrate.pending(url)
    migrate.downgrade(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_api_rejects_missing_and_forged_sessions(client: Any) -> None:
    resp = client.get("/api/v1/me")
    assert resp.status_code == 401 and resp.json["error"]["message"] == "missing session token"
    resp = client.get("/api/v1/me", headers={"Authorization": "Bearer forged.token"})
    assert resp.status_code == 401 and resp.json["error"]["code"] == "unauthorized"


def test_session_is_bound_to_its_tenant(client: Any, tenants: Any) -> None:
    ident = tenants.identity("sf:00DTEST", "005A")
    resp = client.get("/api/v1/me", headers=tenants.headers(ident))
    assert resp.status_code == 200 and resp.json["tenant_id"] == "sf:00DTEST"


def test_health_and_readiness_probes(client: Any) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ok"}


def test_unknown_api_path_is_a_json_404(client: Any) -> None:
    resp = client.get("/api/v1/nope")
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
