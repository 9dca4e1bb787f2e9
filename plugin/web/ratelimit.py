"""Rate limits (flask-limiter) on the paths an attacker can hammer: practice replies,
uploads and the entry paths (canvas, widget and card context, OAuth, demo login, session
refresh, pop-out exchange). One table here, applied to the registered views by endpoint name.

Counters live in Redis when ``ratelimit_storage_url`` (or a ``redis://`` pub/sub URL) is set,
so every web process shares them; otherwise in this process's memory. A request over a limit
gets 429 with ``Retry-After`` and the usual JSON error body.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_limiter import Limiter, RateLimitExceeded

from plugin.security import SessionError
from plugin.settings import Settings
from plugin.web.errors import error_body

# Per signed-in rep (else per address): work that costs CPU, models or disk.
PER_USER = "user"
# Per client address: unauthenticated entry paths.
PER_IP = "ip"

LIMITS: dict[str, tuple[str, str]] = {
    # practice replies (each runs the coach and the simulated buyer)
    "practice_api.post_reply": ("30/minute", PER_USER),
    "practice_api.post_reply_stream": ("30/minute", PER_USER),
    "practice_api.post_audio_reply": ("12/minute", PER_USER),
    "practice_api.post_drill_audio": ("12/minute", PER_USER),
    # uploads
    "recordings_api.upload": ("10/minute;100/day", PER_USER),
    "admin.upload_playbook": ("10/minute", PER_USER),
    # entry paths
    "canvas.canvas": ("60/minute", PER_IP),
    "canvas.widget_context": ("60/minute", PER_IP),
    "hubspot_card.card_context": ("60/minute", PER_IP),
    "crm_oauth.connect": ("20/minute", PER_IP),
    "crm_oauth.callback": ("20/minute", PER_IP),
    "core.demo_login": ("20/minute", PER_IP),
    "popout.refresh_session": ("30/minute", PER_IP),
    "popout.create_popout": ("30/minute", PER_USER),
    "popout.open_popout": ("30/minute", PER_IP),
}


def storage_uri(settings: Settings) -> str:
    """Where the counters live: the setting, else a Redis pub/sub URL, else memory."""
    if settings.ratelimit_storage_url:
        return settings.ratelimit_storage_url
    if settings.pubsub_url.startswith(("redis://", "rediss://")):
        return settings.pubsub_url
    return "memory://"


def client_address() -> str:
    return request.remote_addr or "unknown"


def user_or_address() -> str:
    """The signed-in rep (tenant and user id) when the request carries a valid session."""
    from plugin.web.auth import signer, token_from_request

    token = token_from_request()
    if token:
        try:
            ident = signer().verify(token)
        except SessionError:
            pass
        else:
            return f"user:{ident.tenant_id}:{ident.user_id}"
    return f"ip:{client_address()}"


def init_app(app: Flask) -> None:
    """Create the limiter and wrap every view named in ``LIMITS`` (they must exist)."""
    settings: Settings = app.config["SETTINGS"]
    limiter = Limiter(key_func=client_address, storage_uri=storage_uri(settings),
                      headers_enabled=True, retry_after="delta-seconds",
                      key_prefix="salescoach", enabled=settings.ratelimit_enabled,
                      strategy="moving-window")
    limiter.init_app(app)
    app.extensions["salescoach.limiter"] = limiter
    for endpoint, (spec, per) in LIMITS.items():
        view: Any = app.view_functions.get(endpoint)
        if view is None:
            raise RuntimeError(f"rate limit for unknown endpoint {endpoint!r}")
        key = user_or_address if per == PER_USER else client_address
        limited: Any = limiter.limit(spec, key_func=key)(view)
        app.view_functions[endpoint] = limited

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded) -> Any:
        resp = error_body(429, "rate_limited", f"too many requests: {exc.description}; "
                          "retry after the Retry-After seconds",
                          {"limit": str(exc.limit.limit)})
        resp.headers.setdefault("Retry-After", str(_retry_after(exc)))
        return resp


def _retry_after(exc: RateLimitExceeded) -> int:
    """The limit's window length: an upper bound of the wait (flask-limiter's own header,
    from the window's reset time, is kept when it sets one)."""
    return int(exc.limit.limit.get_expiry())
