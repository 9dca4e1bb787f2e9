"""Twilio stream tokens: scoped to one call and short-lived, unlike a panel session.

The token sits in the TwiML that Twilio stores, so it must not be the rep's session: it is
signed with its own salt (the API refuses it), expires after ``SALESCOACH_STREAM_TOKEN_TTL_S``
unless redeemed, and can start exactly one stream (its nonce is used once, ``plugin.once``).
"""

from __future__ import annotations

import secrets
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from plugin.once import first_use
from plugin.security import Identity, SessionError, secret_key
from plugin.settings import Settings

SALT = "salescoach.twilio-stream.v1"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(settings), salt=SALT)


def issue(settings: Settings, identity: Identity) -> str:
    """A token that starts one Twilio stream as ``identity`` (no other use)."""
    return str(_serializer(settings).dumps({"i": identity.to_dict(),
                                            "n": secrets.token_urlsafe(16)}))


def redeem(settings: Settings, token: str) -> Identity:
    """The identity a stream token starts a call as; ``SessionError`` when missing, forged,
    expired or already used for a stream."""
    if not token:
        raise SessionError("missing stream token")
    ttl = settings.stream_token_ttl_s
    try:
        data: Any = _serializer(settings).loads(token, max_age=ttl)
        identity = Identity(**data["i"])
        nonce = str(data["n"])
    except SignatureExpired:
        raise SessionError("stream token expired; set up the call again") from None
    except (BadSignature, KeyError, TypeError):
        raise SessionError("invalid stream token") from None
    if not first_use("stream", nonce, ttl + 60):
        raise SessionError("stream token already used for a call")
    return identity
