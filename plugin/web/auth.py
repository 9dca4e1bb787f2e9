"""Request authentication: the panel and API carry a signed session bound to one tenant.

Tokens come from ``Authorization: Bearer <t>``, or ``?t=<t>`` (page loads and WebSockets,
which cannot set headers from the browser).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request

from plugin.db import request_session
from plugin.models import User
from plugin.security import Identity, SessionError, SessionSigner
from plugin.web.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])


def signer() -> SessionSigner:
    return current_app.extensions["salescoach.signer"]


def token_from_request() -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.args.get("t", "")


def authenticate() -> Identity:
    """Verify the request's session token; raise a 401 ApiError with the reason.

    The token is stateless, so its user is looked up too: a user erased since (privacy
    deletion) gets a 401 rather than a failed write."""
    try:
        identity = signer().verify(token_from_request())
    except SessionError as exc:
        raise ApiError(401, "unauthorized", exc.reason) from None
    user = request_session().get(User, identity.user_id)
    if user is None or user.tenant_id != identity.tenant_id:
        raise ApiError(401, "unauthorized", "this session's user no longer exists; sign in again")
    g.identity = identity
    return identity


def require_identity(view: F) -> F:
    """Decorator: the view runs only with a valid session; ``current_identity()`` is set."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def current_identity() -> Identity:
    identity = g.get("identity")
    if identity is None:
        raise ApiError(401, "unauthorized", "missing session token")
    return identity


def issue_token(identity: Identity) -> str:
    return signer().issue(identity)
