"""Secrets: instance-generated keys, Fernet encryption at rest, short-lived signed sessions."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from plugin.settings import Settings


def _instance_secret(path: Path, make: Any) -> str:
    """Read a key from the instance folder, creating it (mode 600) on first use."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    return str(value)


def secret_key(settings: Settings) -> str:
    return settings.secret_key or _instance_secret(
        settings.instance_path / "secret.key", lambda: secrets.token_urlsafe(48)
    )


def encryption_key(settings: Settings) -> str:
    """The Fernet key; generated beside the database only outside production (production
    settings refuse to load without one, and this refuses again rather than write a file)."""
    if settings.encryption_key:
        return settings.encryption_key
    if settings.env == "production":
        raise RuntimeError("SALESCOACH_ENCRYPTION_KEY is required when SALESCOACH_ENV=production")
    return _instance_secret(settings.instance_path / "encryption.key",
                            lambda: Fernet.generate_key().decode())


class SecretBox:
    """Encrypts secrets (OAuth tokens, API keys) before they reach the database."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode() if plaintext else ""

    def decrypt(self, token: str) -> str:
        if not token:
            return ""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored secret cannot be decrypted with the current key") from exc


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling: bound to one tenant, one user and (optionally) the CRM record open."""

    tenant_id: str
    user_id: int
    crm_user_id: str = ""
    name: str = ""
    role: str = "rep"
    record_id: str = ""
    record_type: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SessionError(Exception):
    """A session token is missing, forged or expired; ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SessionSigner:
    """Short-lived signed session tokens (bearer), given to the panel after CRM auth.

    A bearer token rather than a cookie because the panel runs inside CRM iframes where
    third-party cookies are often blocked.
    """

    SALT = "salescoach.session.v1"

    def __init__(self, key: str, ttl_s: int) -> None:
        self._s = URLSafeTimedSerializer(key, salt=self.SALT)
        self.ttl_s = ttl_s

    def issue(self, identity: Identity) -> str:
        return self._s.dumps(identity.to_dict())

    def verify(self, token: str) -> Identity:
        if not token:
            raise SessionError("missing session token")
        try:
            data = self._s.loads(token, max_age=self.ttl_s)
        except SignatureExpired:
            raise SessionError("session expired; reopen the coach from your CRM") from None
        except BadSignature:
            raise SessionError("invalid session token") from None
        try:
            return Identity(**data)
        except TypeError:
            raise SessionError("invalid session token") from None
