"""Verify (and, for the sandbox and tests, produce) the signatures CRMs put on requests.

Pure helpers, no Flask: the Salesforce canvas ``signed_request``, the Apex callout HMAC header
of ``POST /sf/widget/context``, and HubSpot's v3 request signature (checked with the SDK's
``hubspot.utils.signature.Signature``). Every failure raises ``SignatureError`` whose
``reason`` is safe to show to the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from typing import Any
from urllib.parse import quote

from hubspot.exceptions import InvalidSignatureTimestampError
from hubspot.utils.signature import Signature

from plugin.safejson import UnsafeInput
from plugin.safejson import loads as safe_loads

CANVAS_ALGORITHM = "HMACSHA256"
CANVAS_MAX_AGE_S = 15 * 60
APEX_MAX_AGE_S = 5 * 60
HUBSPOT_MAX_AGE_S = Signature.MAX_ALLOWED_TIMESTAMP  # 300 s, as the SDK enforces
FUTURE_SKEW_S = 5 * 60  # clocks drift; a timestamp further ahead than this is refused
# How long a used signature must be remembered to refuse its replay: it verifies for at most
# its window plus the allowed clock skew (``plugin.once`` keeps it that long).
CANVAS_REPLAY_S = CANVAS_MAX_AGE_S + FUTURE_SKEW_S
APEX_REPLAY_S = APEX_MAX_AGE_S + FUTURE_SKEW_S
HUBSPOT_REPLAY_S = HUBSPOT_MAX_AGE_S + FUTURE_SKEW_S

# HubSpot signs the URI with these escapes decoded (their v3 validation guide).
_HUBSPOT_URI_DECODE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}


class SignatureError(Exception):
    """A signed request failed verification; ``reason`` says why in words. ``status`` is 401,
    or 400 when the signature is valid but what was signed is malformed."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


def _hmac_b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


_TIMESTAMP_TEXT = re.compile(r"[0-9]{1,16}(\.[0-9]{1,6})?\Z")
MAX_TIMESTAMP = 1e14  # milliseconds up to the year 5138; anything larger is not a timestamp


def _timestamp_s(value: Any, what: str) -> float:
    """Seconds since the epoch from a positive number (or ASCII decimal text) that may be
    seconds or milliseconds; anything else (negative, huge, "1e20", Unicode digits) refused."""
    if value is None or value == "":
        raise SignatureError(f"missing {what}")
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not _TIMESTAMP_TEXT.match(text):
            raise SignatureError(f"{what} is not a timestamp (ASCII digits)")
        number = float(text)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, int) and not 0 < value < MAX_TIMESTAMP:
            raise SignatureError(f"{what} is not a timestamp")
        number = float(value)
    else:
        raise SignatureError(f"{what} is not a timestamp")
    if not 0 < number < MAX_TIMESTAMP:  # also false for NaN
        raise SignatureError(f"{what} is not a timestamp")
    return number / 1000.0 if number > 1e11 else number


def _check_fresh(issued_s: float, max_age_s: int, now: float | None, what: str) -> None:
    now = time.time() if now is None else now
    if now - issued_s > max_age_s:
        raise SignatureError(f"{what} is stale: signed {int(now - issued_s)} s ago, "
                             f"the limit is {max_age_s} s")
    if issued_s - now > FUTURE_SKEW_S:
        raise SignatureError(f"{what} is in the future; check the clock of the signer")


# Salesforce ids --------------------------------------------------------------------------

_ID18_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id18(value: str) -> str:
    """The 18-character, case-insensitive form of a 15-character Salesforce id (others as is),
    so a canvas request, an Apex callout and an OAuth identity name the same org."""
    if len(value) != 15 or not value.isalnum() or not value.isascii():
        return value
    suffix = ""
    for k in range(3):
        chunk = value[k * 5:(k + 1) * 5]
        suffix += _ID18_ALPHABET[sum(1 << n for n, c in enumerate(chunk) if "A" <= c <= "Z")]
    return value + suffix


# Salesforce canvas ---------------------------------------------------------------------


def sign_canvas_request(envelope: dict[str, Any], consumer_secret: str) -> str:
    """``<base64 HMAC-SHA256 of payload>.<base64 JSON envelope>``, as Salesforce posts it."""
    payload = base64.b64encode(json.dumps(envelope, separators=(",", ":")).encode()).decode()
    return _hmac_b64(consumer_secret, payload.encode()) + "." + payload


def verify_canvas_request(signed_request: str, consumer_secret: str, *,
                          max_age_s: int = CANVAS_MAX_AGE_S,
                          now: float | None = None) -> dict[str, Any]:
    """The decoded canvas envelope if ``signed_request`` was signed with ``consumer_secret``.

    Split at the first '.', recompute standard-base64 HMAC-SHA256 over the payload string as
    sent, compare in constant time, then decode; only HMACSHA256 and fresh ``issuedAt`` pass.
    """
    if not consumer_secret:
        raise SignatureError("no Salesforce consumer secret is configured")
    if not signed_request:
        raise SignatureError("missing signed_request")
    if "." not in signed_request:
        raise SignatureError("signed_request must be '<signature>.<payload>'")
    signature, payload = signed_request.split(".", 1)
    if not signature or not payload:
        raise SignatureError("signed_request must be '<signature>.<payload>'")
    expected = _hmac_b64(consumer_secret, payload.encode("utf-8", "surrogateescape"))
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        raise SignatureError("signature does not match: signed with another consumer secret "
                             "or altered on the way")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("payload is not valid base64") from None
    try:
        envelope = safe_loads(raw)
    except UnsafeInput as exc:
        raise SignatureError(f"payload: {exc.message}", 400) from None
    if not isinstance(envelope, dict):
        raise SignatureError("payload is not a JSON object", 400)
    algorithm = envelope.get("algorithm")
    if algorithm != CANVAS_ALGORITHM:
        raise SignatureError(f"unsupported algorithm {algorithm!r}; only {CANVAS_ALGORITHM}")
    _check_fresh(_timestamp_s(envelope.get("issuedAt"), "issuedAt"), max_age_s, now,
                 "signed_request")
    return envelope


# Apex callout (POST /sf/widget/context) ------------------------------------------------


def sign_apex_callout(raw_body: bytes, consumer_secret: str) -> str:
    """The ``X-SalesCoach-Signature`` value Apex computes: base64(HMAC-SHA256(secret, body))."""
    return _hmac_b64(consumer_secret, raw_body)


def verify_apex_callout(raw_body: bytes, signature: str | None, consumer_secret: str, *,
                        max_age_s: int = APEX_MAX_AGE_S,
                        now: float | None = None) -> dict[str, Any]:
    """The callout's JSON body if its signature header matches and ``issuedAt`` is fresh."""
    if not consumer_secret:
        raise SignatureError("no Salesforce consumer secret is configured")
    if not signature:
        raise SignatureError("missing X-SalesCoach-Signature header")
    expected = _hmac_b64(consumer_secret, raw_body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        raise SignatureError("signature does not match: signed with another secret or the body "
                             "was altered")
    try:
        body = safe_loads(raw_body)
    except UnsafeInput as exc:
        raise SignatureError(f"body: {exc.message}", 400) from None
    if not isinstance(body, dict):
        raise SignatureError("body is not a JSON object", 400)
    _check_fresh(_timestamp_s(body.get("issuedAt"), "issuedAt"), max_age_s, now, "callout")
    return body


# HubSpot v3 ----------------------------------------------------------------------------


def hubspot_signing_uri(public_base_url: str, path: str, query: str = "") -> str:
    """The full URI HubSpot signed: our public base URL (not the proxy-facing host) + path
    + query, with the escapes HubSpot decodes before signing decoded."""
    uri = public_base_url.rstrip("/") + quote(path, safe="/:@!$'()*,;%=+&-._~")
    if query:
        uri += "?" + query
    for escaped, char in _HUBSPOT_URI_DECODE.items():
        uri = uri.replace(escaped, char).replace(escaped.lower(), char)
    return uri


def sign_hubspot_v3(method: str, uri: str, raw_body: str, client_secret: str,
                    timestamp_ms: int | None = None) -> tuple[str, str]:
    """(signature, timestamp) headers as HubSpot sends them (SDK's ``get_signature``)."""
    ts = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    sig = Signature.get_signature(client_secret, raw_body, "v3", http_uri=uri,
                                  http_method=method.upper(), timestamp=ts)
    return sig, ts


def verify_hubspot_v3(method: str, uri: str, raw_body: bytes, signature: str | None,
                      timestamp: str | None, client_secret: str,
                      now: float | None = None) -> None:
    """Raise ``SignatureError`` unless the v3 signature is valid (SDK ``Signature.is_valid``)."""
    if not client_secret:
        raise SignatureError("no HubSpot client secret is configured")
    if not signature:
        raise SignatureError("missing X-HubSpot-Signature-v3 header")
    if not timestamp:
        raise SignatureError("missing X-HubSpot-Request-Timestamp header")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
        raise SignatureError("X-HubSpot-Request-Timestamp must be milliseconds since the "
                             "epoch (ASCII digits)")
    issued = int(timestamp) / 1000.0
    now_s = time.time() if now is None else now
    if issued - now_s > FUTURE_SKEW_S:
        raise SignatureError("request timestamp is in the future")
    if now_s - issued >= HUBSPOT_MAX_AGE_S:
        raise SignatureError(f"request timestamp is older than {HUBSPOT_MAX_AGE_S} s")
    try:
        body = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8") from None
    try:
        ok = Signature.is_valid(signature=signature, client_secret=client_secret,
                                request_body=body, http_uri=uri, http_method=method.upper(),
                                signature_version="v3", timestamp=timestamp)
    except InvalidSignatureTimestampError:
        raise SignatureError(f"request timestamp is older than {HUBSPOT_MAX_AGE_S} s") from None
    except TypeError:  # compare_digest refuses non-ASCII strings
        ok = False
    if not ok:
        raise SignatureError("signature does not match: signed with another client secret, "
                             "for another URL, or the body was altered")
