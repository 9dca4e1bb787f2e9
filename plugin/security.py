"""Secrets: instance-generated keys, Fernet encryption at rest, short-lived signed sessions."""

from __future__ import annotations

import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from plugin.settings import Settings


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by this user only (0600 from creation, no window)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(0o600)


def _instance_secret(path: Path, make: Any) -> str:
    """Read a key from the instance folder, creating it (mode 600) on first use."""
    if path.is_file():
        return path.read_text().strip()
    value = str(make())
    write_private(path, value)
    return value


def secret_key(settings: Settings) -> str:
    return settings.secret_key or _instance_secret(
        settings.instance_path / "secret.key", lambda: secrets.token_urlsafe(48)
    )


def encryption_key_file(settings: Settings) -> Path:
    return settings.instance_path / "encryption.key"


def encryption_key(settings: Settings) -> str:
    """The Fernet key list (newest first, comma-separated): the setting, else the instance
    file, generated beside the database only outside production (production settings refuse
    to load without one, and this refuses again rather than write a file)."""
    if settings.encryption_key:
        return settings.encryption_key
    if settings.env == "production":
        raise RuntimeError("SALESCOACH_ENCRYPTION_KEY is required when SALESCOACH_ENV=production")
    return _instance_secret(encryption_key_file(settings),
                            lambda: Fernet.generate_key().decode())


def split_keys(keys: str | list[str]) -> list[str]:
    """``"new,old"`` (commas or whitespace) → ``["new", "old"]``."""
    if isinstance(keys, str):
        keys = keys.replace(",", " ").split()
    return [k.strip() for k in keys if k.strip()]


class SecretBox:
    """Encrypts secrets (OAuth tokens, API keys) before they reach the database.

    Several keys (newest first, ``MultiFernet``): encryption uses the first, decryption tries
    each, so a key can be rotated in without losing what older keys encrypted.
    """

    def __init__(self, keys: str | list[str]) -> None:
        self.keys = split_keys(keys)
        if not self.keys:
            raise ValueError("SALESCOACH_ENCRYPTION_KEY: no encryption key")
        fernets = []
        for n, key in enumerate(self.keys, 1):
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError:
                raise ValueError(f"SALESCOACH_ENCRYPTION_KEY: key {n} is not a Fernet key "
                                 "(32 url-safe base64-encoded bytes)") from None
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode() if plaintext else ""

    def decrypt(self, token: str) -> str:
        if not token:
            return ""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored secret cannot be decrypted with the current keys") from exc

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the newest key (decrypted with whichever key fits)."""
        if not token:
            return ""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored secret cannot be decrypted with the current keys") from exc


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
