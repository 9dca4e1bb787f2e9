"""Browser and data hygiene: security headers, cookie flags, private files, key rotation."""

from __future__ import annotations

import io
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from plugin.crm_auth import sign_canvas_request
from plugin.db import db
from tests.inputs.conftest import SF_SECRET
from tests.support import migrated_database


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_response_has_the_security_headers(client: Any, admin_headers: Any) -> None:
    for resp in (client.get("/healthz"), client.get("/api/v1/me", headers=admin_headers),
                 client.get("/api/v1/nope"), client.get("/")):
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors" in resp.headers["Content-Security-Policy"]
        # behind TLS (the public base URL of these tests is https)
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


def test_json_is_never_framed_pages_only_by_crm_hosts(client: Any, admin_headers: Any) -> None:
    api = client.get("/api/v1/me", headers=admin_headers)
    assert "frame-ancestors 'none'" in api.headers["Content-Security-Policy"]
    assert api.headers["X-Frame-Options"] == "DENY"
    page = client.get("/")  # before any identity: the configured CRM hosts (+ demo sandbox)
    csp = page.headers["Content-Security-Policy"]
    assert "'self'" in csp and "https://*.force.com" in csp and "https://app.hubspot.com" in csp
    assert "X-Frame-Options" not in page.headers


def test_a_tenants_pages_are_framed_by_its_own_salesforce(client: Any) -> None:
    from plugin.models import CrmConnection
    from plugin.tenancy import ensure_tenant
    from plugin.web import headers

    tenant = "sf:00DFRAMES0000000AA"
    with db.session_scope() as s:
        ensure_tenant(s, tenant, "salesforce")
        s.add(CrmConnection(tenant_id=tenant, kind="salesforce", status="connected",
                            instance_url="https://acme.my.salesforce.com",
                            access_token_enc="", refresh_token_enc=""))
    headers._tenant_hosts.clear()
    envelope = {"algorithm": "HMACSHA256", "issuedAt": int(time.time()), "userId": "005FRAME1",
                "context": {"user": {"userId": "005FRAME1", "fullName": "F"},
                            "organization": {"organizationId": "00DFRAMES0000000AA"}}}
    resp = client.post("/sf/canvas", data={"signed_request": sign_canvas_request(envelope,
                                                                                 SF_SECRET)})
    assert resp.status_code == 200  # not connected with tokens: the connect page, framed
    csp = resp.headers["Content-Security-Policy"]
    assert "https://acme.lightning.force.com" in csp and "https://acme.my.salesforce.com" in csp
    assert "https://*.force.com" not in csp and "hubspot" not in csp
    panel = client.get(f"/panel/live?{_token_in(resp.get_data(as_text=True))}")
    assert "https://acme.lightning.force.com" in panel.headers["Content-Security-Policy"]


def _token_in(html: str) -> str:
    import re

    match = re.search(r"/panel/live\?((?:t|code)=[^\"&]+)", html)
    assert match, html[:500]
    return match.group(1)


def test_hubspot_tenant_pages_are_framed_by_hubspot_only(app: Any, tenants: Any) -> None:
    ident = tenants.identity("hs:7700123", "hs-user-1")
    resp = app.test_client().get(f"/panel/live?t={tenants.token(ident)}")
    csp = resp.headers["Content-Security-Policy"]
    assert "https://app.hubspot.com" in csp and "force.com" not in csp


def test_no_hsts_without_tls(database_url: str, tmp_path: Path) -> None:
    from plugin.app import create_app

    app = create_app({"env": "test", "database_url": database_url, "instance_path": tmp_path,
                      "secret_key": "test-secret", "public_base_url": "http://127.0.0.1:5000"})
    resp = app.test_client().get("/healthz")
    assert "Strict-Transport-Security" not in resp.headers
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_the_oauth_nonce_cookie_is_secure_lax_and_http_only(client: Any,
                                                            admin_headers: Any) -> None:
    token = admin_headers["Authorization"].split()[1]
    resp = client.get(f"/admin/connect/salesforce?t={token}")
    assert resp.status_code == 302
    cookies = resp.headers.getlist("Set-Cookie")
    assert cookies, "the connect step sets the nonce cookie"
    for cookie in cookies:
        lower = cookie.lower()
        assert "samesite=lax" in lower and "; secure" in lower and "httponly" in lower


def test_files_written_are_private(database_url: str, tmp_path: Path) -> None:
    """Keys, uploads (and a SQLite database) of a fresh instance are this user's only."""
    from plugin.app import create_app
    from plugin.demo_calls import HERE as DEMO_CALLS_DIR
    from tests.inputs.conftest import admin

    fresh = tmp_path / "instance"
    app = create_app({"env": "test", "database_url": database_url, "instance_path": fresh,
                      "demo": True})
    assert mode(fresh) == 0o700
    for key in ("secret.key", "encryption.key"):
        assert mode(fresh / key) == 0o600
    token = app.extensions["salescoach.signer"].issue(admin(app))
    wav = next(Path(DEMO_CALLS_DIR).glob("*.wav"))
    resp = app.test_client().post("/api/v1/recordings", headers={
        "Authorization": f"Bearer {token}"}, data={"file": (io.BytesIO(wav.read_bytes()),
                                                             "call.wav")})
    assert resp.status_code == 202, resp.get_json()
    written = [p for p in fresh.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wav" for p in written), written
    loose = {str(p): oct(mode(p)) for p in written if mode(p) & 0o077}
    loose_dirs = {str(p): oct(mode(p)) for p in fresh.rglob("*")
                  if p.is_dir() and mode(p) & 0o077}
    assert loose == {} and loose_dirs == {}
    if database_url.startswith("sqlite:///"):
        assert mode(Path(database_url.removeprefix("sqlite:///"))) == 0o600


def test_several_keys_decrypt_and_the_first_encrypts() -> None:
    from plugin.security import SecretBox

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token_old = SecretBox(old).encrypt("crm-token")
    box = SecretBox(f"{new},{old}")
    assert box.decrypt(token_old) == "crm-token"
    assert SecretBox(new).decrypt(box.encrypt("x")) == "x"
    with pytest.raises(ValueError, match="key 2 is not a Fernet key"):
        SecretBox(f"{new},nope")


def test_keys_rotate_reencrypts_every_secret(runner: Any, tmp_path: Path, monkeypatch: Any,
                                             tmp_path_factory: Any) -> None:
    # A database of its own: rotation refuses (rightly) to run over secrets that other tests
    # stored with other keys, which the session's shared database holds.
    fresh = migrated_database(tmp_path_factory, "rotate")
    database_url = next(fresh)
    try:
        _rotate_and_check(runner, database_url, tmp_path, monkeypatch)
    finally:
        fresh.close()


def _rotate_and_check(runner: Any, database_url: str, tmp_path: Path, monkeypatch: Any) -> None:
    from plugin.app import create_app
    from plugin.cli import main
    from plugin.crm import OAuthTokens, save_connection
    from plugin.models import CrmConnection
    from plugin.security import SecretBox
    from plugin.settings import load_settings
    from plugin.tenancy import ensure_tenant

    old = Fernet.generate_key().decode()
    env = {"SALESCOACH_ENV": "test", "SALESCOACH_DATABASE_URL": database_url,
           "SALESCOACH_INSTANCE_PATH": str(tmp_path), "SALESCOACH_SECRET_KEY": "s" * 40,
           "SALESCOACH_ENCRYPTION_KEY": old}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = load_settings()
    create_app(settings=settings)
    with db.session_scope() as s:
        ensure_tenant(s, "sf:00DROTATE", "salesforce")
        save_connection(s, settings, "sf:00DROTATE", "salesforce", OAuthTokens(
            access_token="access-1", refresh_token="refresh-1",
            instance_url="https://rotate.my.salesforce.com"))
    result = runner.invoke(main, ["keys", "rotate"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines()
                if x.startswith("SALESCOACH_ENCRYPTION_KEY="))
    keys = line.split("=", 1)[1].split(",")
    assert len(keys) == 2 and keys[1] == old and keys[0] != old
    assert "crm_connections.access_token_enc 1" in result.output
    with db.session_scope() as s:
        row = s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == "sf:00DROTATE"))
        assert row is not None
        # the newest key alone opens every stored secret; the old one no longer does
        assert SecretBox(keys[0]).decrypt(row.access_token_enc) == "access-1"
        assert SecretBox(keys[0]).decrypt(row.refresh_token_enc) == "refresh-1"
        with pytest.raises(ValueError):
            SecretBox(old).decrypt(row.access_token_enc)


def test_keys_rotate_updates_the_instance_key_file(tmp_path: Path, monkeypatch: Any) -> None:
    """Its own database: the shared one holds secrets of other tests' keys, which a rotation
    rightly refuses to lose."""
    from plugin import migrate
    from plugin.keys import rotate
    from plugin.settings import load_settings

    monkeypatch.delenv("SALESCOACH_ENCRYPTION_KEY", raising=False)
    database_url = f"sqlite:///{tmp_path / 'keys.db'}"
    migrate.upgrade(database_url)
    settings = load_settings({"env": "test", "database_url": database_url,
                              "instance_path": tmp_path, "secret_key": "s" * 40})
    from plugin.app import create_app

    create_app(settings=settings)
    first = (tmp_path / "encryption.key").read_text().strip()
    try:
        keys, _, in_file = rotate(settings)
    finally:
        db.dispose()
    assert in_file and keys[1] == first
    assert (tmp_path / "encryption.key").read_text().strip() == ",".join(keys)
    assert mode(tmp_path / "encryption.key") == 0o600
