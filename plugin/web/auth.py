"""Request authentication: the panel and API carry a signed session bound to one tenant.

Tokens come from ``Authorization: Bearer <t>``, or ``?t=<t>`` (page loads, which cannot set
headers from the browser). Entry redirects (CRM canvas, pop-out, demo, OAuth) carry no
session but ``?code=<c>``: a one-time code valid ``ENTRY_CODE_TTL_S`` that the page load
exchanges for a session, so no long-lived token sits in the URL a CRM, a proxy or a
browser history records.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from plugin.db import request_session
from plugin.models import User
from plugin.once import first_use
from plugin.security import Identity, SessionError, SessionSigner
from plugin.web.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])


def signer() -> SessionSigner:
    return current_app.extensions["salescoach.signer"]


ENTRY_CODE_TTL_S = 60
ENTRY_CODE_SALT = "salescoach.entry-code.v1"


def _codes() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=ENTRY_CODE_SALT)


def entry_code(identity: Identity) -> str:
    """A one-time code (``ENTRY_CODE_TTL_S``) that opens one page load as ``identity``."""
    return str(_codes().dumps({"i": identity.to_dict(), "n": secrets.token_urlsafe(12)}))


def redeem_entry_code(code: str) -> Identity:
    """The identity of a fresh, unused code (spent now); ``SessionError`` otherwise."""
    try:
        data: Any = _codes().loads(code, max_age=ENTRY_CODE_TTL_S)
        identity = Identity(**data["i"])
        nonce = str(data["n"])
    except SignatureExpired:
        raise SessionError("this sign-in link expired (links last a minute); reopen Sales "
                           "Coach from your CRM") from None
    except (BadSignature, KeyError, TypeError):
        raise SessionError("invalid sign-in link") from None
    if not first_use("entry-code", nonce, 2 * ENTRY_CODE_TTL_S):
        raise SessionError("this sign-in link was already used (invalid now); reopen Sales "
                           "Coach from your CRM")
    return identity


def entry_url(path: str, identity: Identity, query: str = "", *, absolute: bool = True) -> str:
    """``[<public base>]<path>?code=…`` for a redirect the browser follows at once."""
    base = current_app.config["SETTINGS"].public_base_url.rstrip("/") if absolute else ""
    return f"{base}{path}?code={entry_code(identity)}{'&' + query if query else ''}"


def token_from_request() -> str:
    """The request's session token: the header, ``?t=``, or the session a ``?code=`` was
    exchanged for (once per request; a bad code leaves the reason for ``authenticate``)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    token = request.args.get("t", "")
    code = request.args.get("code", "")
    if token or not code or request.path.startswith("/oauth/"):
        return token
    if "salescoach_exchanged" not in g:
        try:
            g.salescoach_exchanged = issue_token(redeem_entry_code(code))
        except SessionError as exc:
            g.salescoach_exchanged, g.salescoach_code_error = "", exc.reason
    return str(g.salescoach_exchanged)


def authenticate() -> Identity:
    """Verify the request's session token; raise a 401 ApiError with the reason.

    The token is stateless, so its user is looked up too: a user erased since (privacy
    deletion) gets a 401 rather than a failed write."""
    try:
        token = token_from_request()
        if not token and g.get("salescoach_code_error"):
            raise SessionError(g.salescoach_code_error)
        identity = signer().verify(token)
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
