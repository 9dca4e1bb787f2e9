"""Sandbox identity: generated once into ``<instance>/sandbox/`` so restarts keep the same CA,
org/portal ids and OAuth client credentials (tokens issued before a restart stay valid)."""

from __future__ import annotations

import json
import secrets
import string
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from plugin.settings import Settings

DEFAULT_PORT = 8443
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class SandboxPaths:
    """Files of one sandbox under ``<instance>/sandbox/``."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / "sandbox.db"

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.root / "server.pem"

    @property
    def key(self) -> Path:
        return self.root / "server.key"

    @property
    def identity(self) -> Path:
        return self.root / "identity.json"

    @property
    def admin_token(self) -> Path:
        """Bearer token of the admin API (``/_sandbox/*``), generated on first use."""
        return self.root / "admin.token"

    @property
    def running(self) -> Path:
        """Written while a server runs: its base URL (port 0 picks a random port)."""
        return self.root / "running.json"


def admin_token(paths: SandboxPaths, configured: str = "") -> str:
    """The admin API's token: ``SALESCOACH_SANDBOX_ADMIN_TOKEN`` when set, else the one in
    the sandbox folder (created once, mode 600), which the product's own code reads."""
    if configured:
        return configured
    if paths.admin_token.is_file():
        return paths.admin_token.read_text().strip()
    import secrets

    value = secrets.token_urlsafe(32)
    paths.admin_token.touch(mode=0o600)
    paths.admin_token.write_text(value)
    return value


def sandbox_paths(instance_path: Path) -> SandboxPaths:
    root = Path(instance_path) / "sandbox"
    root.mkdir(parents=True, exist_ok=True)
    return SandboxPaths(root)


@dataclass(frozen=True, slots=True)
class SandboxCredentials:
    """How to reach the sandbox and the OAuth apps registered in it.

    ``base_url`` serves both vendors: Salesforce login/instance URL and HubSpot API host.
    ``ca_path`` is the PEM of the local CA; clients pass it as ``verify``/``ssl_ca_cert``.
    """

    base_url: str
    ca_path: str
    sf_org_id: str
    sf_client_id: str
    sf_client_secret: str
    hs_portal_id: str
    hs_client_id: str
    hs_client_secret: str
    sf_user_id: str = ""
    hs_user_id: str = ""
    hs_app_id: str = ""

    @property
    def sf_login_url(self) -> str:
        """Salesforce login host: ``/services/oauth2/authorize`` and ``/token`` live here."""
        return self.base_url

    @property
    def hs_authorize_url(self) -> str:
        """HubSpot install/consent URL (app.hubspot.com/oauth/authorize in production)."""
        return self.base_url + "/oauth/authorize"

    @property
    def hs_api_host(self) -> str:
        return self.base_url

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _sf_id(prefix: str) -> str:
    """An 18-character Salesforce-style id with the object's key prefix."""
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(15))


def load_identity(paths: SandboxPaths) -> dict[str, str]:
    """Org/portal ids and client credentials, created on first use (mode 600)."""
    with _LOCK:
        if paths.identity.is_file():
            return dict(json.loads(paths.identity.read_text()))
        ident = {
            "sf_org_id": _sf_id("00D"),
            "sf_user_id": _sf_id("005"),
            "sf_client_id": "3MVG9sandbox" + secrets.token_hex(20),
            "sf_client_secret": secrets.token_hex(32),
            "hs_portal_id": str(40_000_000 + secrets.randbelow(9_000_000)),
            "hs_user_id": str(7_000_000 + secrets.randbelow(900_000)),
            "hs_app_id": str(1_000_000 + secrets.randbelow(900_000)),
            "hs_client_id": secrets.token_hex(4) + "-" + secrets.token_hex(2) + "-"
            + secrets.token_hex(2) + "-" + secrets.token_hex(2) + "-" + secrets.token_hex(6),
            "hs_client_secret": secrets.token_hex(18),
        }
        tmp = paths.identity.with_suffix(".tmp")
        tmp.write_text(json.dumps(ident, indent=2))
        tmp.chmod(0o600)
        tmp.replace(paths.identity)
        return ident


def ensure_tls(paths: SandboxPaths) -> None:
    """Create the local CA and a server certificate for 127.0.0.1/localhost, once."""
    with _LOCK:
        if paths.ca.is_file() and paths.cert.is_file() and paths.key.is_file():
            return
        import trustme

        ca = trustme.CA(organization_name="Sales Coach CRM sandbox")
        leaf = ca.issue_cert("127.0.0.1", "localhost", "::1")
        paths.ca.write_bytes(ca.cert_pem.bytes())
        paths.cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        paths.key.write_bytes(leaf.private_key_pem.bytes())
        paths.key.chmod(0o600)


def running_base_url(paths: SandboxPaths) -> str | None:
    if not paths.running.is_file():
        return None
    try:
        return str(json.loads(paths.running.read_text())["base_url"])
    except (ValueError, KeyError):
        return None


def sandbox_credentials(settings: Settings) -> SandboxCredentials:
    """The sandbox of this instance: where it listens, its CA and its OAuth app credentials.

    ``base_url`` is the running server's (written at start, so port 0 works in tests), else
    ``https://127.0.0.1:<sandbox_port>``.
    """
    paths = sandbox_paths(settings.instance_path)
    ensure_tls(paths)
    ident = load_identity(paths)
    port = settings.sandbox_port or DEFAULT_PORT
    base_url = running_base_url(paths) or f"https://127.0.0.1:{port}"
    return SandboxCredentials(base_url=base_url, ca_path=str(paths.ca), **ident)
