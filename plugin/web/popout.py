"""Session handover for the panel where the CRM frame limits it.

- ``POST /api/v1/session/refresh``: a fresh session token for the same rep, tenant and
  record while the current one is still valid, so the panel keeps its session in memory
  (no third-party storage or cookies) across a long working day.
- ``POST /api/v1/popout`` + ``GET /popout/<code>``: the pop-out coach window. A CRM frame
  may forbid the microphone (a Salesforce canvas iframe carries no ``allow="microphone"``);
  the panel then opens a first-party window through a one-time link (valid 2 minutes, usable
  once, across web processes) that is bound to the same rep, tenant and record. That window
  captures the audio while the panel in the CRM watches the same call.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, render_template
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete

from plugin.db import db
from plugin.models import TaskLock
from plugin.pipeline.locks import acquire
from plugin.security import Identity, SessionError, secret_key
from plugin.web.auth import (
    current_identity,
    entry_url,
    issue_token,
    redeem_entry_code,
    require_identity,
    signer,
)
from plugin.web.errors import ApiError
from plugin.web.inputs import body_str, json_object

bp = Blueprint("popout", __name__, template_folder="templates")

POPOUT_TTL_S = 120
POPOUT_SALT = "salescoach.popout.v1"
USED_PREFIX = "popout:"  # task_locks key of a redeemed link (kept until it would expire)
RECORD_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
RECORD_TYPES = {"Contact", "Lead", "Account", "Opportunity", "contact", "company", "deal"}


def _links() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(current_app.config["SETTINGS"]), salt=POPOUT_SALT)


@bp.post("/api/v1/session/refresh")
@require_identity
def refresh_session() -> Any:
    """A new token (full TTL) for the identity of the valid token sent."""
    ident = current_identity()
    return jsonify(token=issue_token(ident), expires_in=signer().ttl_s,
                   tenant_id=ident.tenant_id, user_id=ident.user_id)


@bp.post("/api/v1/session/exchange")
def exchange_code() -> Any:
    """The session a one-time entry code (``?code=`` of an entry redirect) opens, for a
    client that holds the code rather than loading the page with it."""
    code = json_object().get("code")
    if not isinstance(code, str) or not code or len(code) > 2048:
        raise ApiError(400, "bad_request", 'send JSON {"code": "<one-time code>"}')
    try:
        ident = redeem_entry_code(code)
    except SessionError as exc:
        raise ApiError(401, "unauthorized", exc.reason) from None
    return jsonify(token=issue_token(ident), expires_in=signer().ttl_s,
                   tenant_id=ident.tenant_id, user_id=ident.user_id)


def _record_from(body: dict[str, Any], ident: Identity) -> Identity:
    """The identity for the pop-out: the session's record, or the one the rep picked when
    the panel was opened without a record (a session bound to a record keeps it)."""
    record_id = body_str(body, "record_id", 64)
    record_type = body_str(body, "record_type", 32)
    if ident.record_id or not record_id:
        return ident
    if not isinstance(record_id, str) or not RECORD_ID.match(record_id):
        raise ApiError(400, "bad_record_id", "record_id must be 1-64 letters, digits or _.:-")
    if record_type not in RECORD_TYPES:
        raise ApiError(400, "bad_record_type",
                       "record_type must be one of " + ", ".join(sorted(RECORD_TYPES)))
    return replace(ident, record_id=record_id, record_type=record_type)


@bp.post("/api/v1/popout")
@require_identity
def create_popout() -> Any:
    """A one-time link that opens the coach in its own first-party window."""
    body = json_object()
    ident = _record_from(body, current_identity())
    code = _links().dumps({"identity": ident.to_dict(), "nonce": secrets.token_urlsafe(16)})
    base = current_app.config["SETTINGS"].public_base_url.rstrip("/")
    return jsonify(url=f"{base}/popout/{code}", expires_in=POPOUT_TTL_S)


def _refused(status: int, code: str, reason: str) -> Any:
    return render_template("popout_error.html", reason=reason, code=code), status


@bp.get("/popout/<code>")
def open_popout(code: str) -> Any:
    """Redeem a one-time link: the live panel in pop-out mode, with a fresh session."""
    try:
        data = _links().loads(code, max_age=POPOUT_TTL_S)
        ident = Identity(**data["identity"])
        nonce = str(data["nonce"])
    except SignatureExpired:
        return _refused(410, "link_expired", "This pop-out link has expired (links last two "
                        "minutes). Click “Pop-out coach” in the Sales Coach panel again.")
    except (BadSignature, KeyError, TypeError):
        return _refused(400, "bad_link", "This pop-out link is not valid. Click “Pop-out "
                        "coach” in the Sales Coach panel in your CRM to open a new one.")
    now = datetime.now(UTC)
    with db.session_scope() as s:  # forget links that can no longer be redeemed anyway
        s.execute(delete(TaskLock).where(TaskLock.key.like(USED_PREFIX + "%"),
                                         TaskLock.expires_at < now))
    # Kept longer than the link lives, so an expired marker never lets a link in twice; the
    # owner is unique so a second redeem never counts as the holder re-taking its lock.
    if not acquire(USED_PREFIX + nonce, f"popout:{secrets.token_hex(8)}", 2 * POPOUT_TTL_S):
        return _refused(410, "link_used", "This pop-out link was already used. Click "
                        "“Pop-out coach” in the Sales Coach panel again for a new window.")
    return redirect(entry_url("/panel/live", ident, "popout=1", absolute=False), code=303)
