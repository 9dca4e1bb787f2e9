"""Salesforce entry points: the canvas ``signed_request`` and the Apex widget callout.

``POST /sf/canvas`` verifies the canvas envelope and opens the coach panel bound to tenant
``sf:<orgId>``, the user and the record on screen. ``POST /sf/widget/context`` answers the
LWC's Apex callout (``X-SalesCoach-Signature``) with the widget context JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, redirect, render_template, request
from sqlalchemy.orm import Session

from plugin.crm_auth import (
    APEX_REPLAY_S,
    CANVAS_REPLAY_S,
    SignatureError,
    salesforce_id18,
    verify_apex_callout,
    verify_canvas_request,
)
from plugin.db import request_session
from plugin.safejson import UnsafeInput, check_text
from plugin.web.auth import entry_url, issue_token
from plugin.web.crm_common import (
    bind_user,
    check_id,
    connect_url,
    crm_app,
    identity_for,
    is_connected,
    not_connected_message,
    refuse_replay,
    settings,
    tenant_id_for,
    widget_context_for,
)
from plugin.web.errors import ApiError

bp = Blueprint("canvas", __name__, template_folder="templates")

SIGNATURE_HEADER = "X-SalesCoach-Signature"
MAX_BODY = 64 * 1024


def _consumer_secret() -> str:
    try:
        return crm_app(settings(), "salesforce").client_secret
    except ApiError:
        return ""


def _wants_html() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _canvas_error(status: int, code: str, reason: str) -> Any:
    if _wants_html():
        return render_template("canvas_error.html", reason=reason, code=code), status
    raise ApiError(status, code, reason)


def _object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """``parent[key]`` as an object ({} when absent); a 400 naming the field otherwise."""
    value = parent.get(key)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_request", f"{where}.{key} must be an object")
    return value


def _text(value: Any, where: str, max_len: int = 255) -> str:
    """A display string of the envelope (name, email): text, storable, within its column."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, "invalid_request", f"{where} must be a string")
    try:
        return check_text(value.strip(), where, max_len)
    except UnsafeInput as exc:
        raise ApiError(400, "invalid_request", exc.message) from None


def _record_of(context: dict[str, Any]) -> tuple[Any, Any]:
    """(record id, object type) from ``context.environment.record`` or its parameters."""
    env = _object(context, "environment", "context")
    record = _object(env, "record", "context.environment")
    params = _object(env, "parameters", "context.environment")
    attributes = _object(record, "attributes", "context.environment.record")
    record_id = record.get("Id") or params.get("recordId") or ""
    record_type = (attributes.get("type") or params.get("objectApiName")
                   or params.get("recordType") or "")
    return record_id, record_type


@bp.post("/sf/canvas")
def canvas() -> Any:
    """Verify the canvas signed request, then open the panel (with a banner if not connected)."""
    try:
        envelope = verify_canvas_request(request.form.get("signed_request", ""),
                                         _consumer_secret())
    except SignatureError as exc:
        return _canvas_error(exc.status, "invalid_signed_request", exc.reason)
    try:
        refuse_replay("canvas", request.form.get("signed_request", "").split(".", 1)[0],
                      CANVAS_REPLAY_S)
    except ApiError as exc:
        return _canvas_error(exc.status, exc.code, exc.message)
    try:
        context = _object(envelope, "context", "signed_request")
        org = _object(context, "organization", "context")
        user = _object(context, "user", "context")
        org_id = salesforce_id18(check_id(org.get("organizationId"),
                                          "context.organization.organizationId"))
        user_id = salesforce_id18(check_id(user.get("userId") or envelope.get("userId"),
                                           "context.user.userId"))
        raw_id, raw_type = _record_of(context)
        record_id = salesforce_id18(check_id(raw_id, "record Id", required=False))
        record_type = check_id(raw_type, "record type", required=False)[:32]
        org_name = _text(org.get("name"), "context.organization.name")
        user_name = (_text(user.get("fullName"), "context.user.fullName")
                     or _text(user.get("userName"), "context.user.userName"))
        email = _text(user.get("email"), "context.user.email")
    except ApiError as exc:
        return _canvas_error(exc.status, exc.code, exc.message)
    session: Session = request_session()
    tenant = tenant_id_for("salesforce", org_id)
    row = bind_user(session, tenant, "salesforce", org_name, user_id, user_name, email)
    identity = identity_for(row, record_id, record_type)
    g.identity = identity  # the page below is this tenant's (its CSP frame-ancestors)
    connected = is_connected(session, tenant, "salesforce")
    session.commit()
    token = issue_token(identity)
    url = entry_url("/panel/live", identity)  # followed at once: a one-time code, no token
    if connected:
        return redirect(url, code=303)
    admin_url = f"{settings().public_base_url}/admin?t={token}" if identity.role == "admin" else ""
    return render_template("canvas_connect.html", panel_url=url, admin_url=admin_url,
                           message=not_connected_message("salesforce"),
                           connect_url=connect_url("salesforce"))


@bp.get("/sf/canvas")
def canvas_get() -> Any:
    """Salesforce GETs the canvas URL only for self-authorising apps, which we do not use."""
    return _canvas_error(400, "signed_request_required",
                         "Sales Coach opens from Salesforce with a signed request (POST): set "
                         "the connected app's canvas access method to 'Signed Request (POST)' "
                         "and 'Admin approved users are pre-authorized'")


@bp.post("/sf/widget/context")
def widget_context() -> Any:
    """The Apex callout of the Salesforce LWC: verify the HMAC header, answer the context."""
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise ApiError(413, "too_large", f"body larger than {MAX_BODY} bytes")
    try:
        body = verify_apex_callout(raw, request.headers.get(SIGNATURE_HEADER),
                                   _consumer_secret())
    except SignatureError as exc:
        raise ApiError(exc.status, "invalid_signature", exc.reason) from None
    refuse_replay("apex", str(request.headers.get(SIGNATURE_HEADER)), APEX_REPLAY_S)
    org_id = salesforce_id18(check_id(body.get("orgId"), "orgId"))
    user_id = salesforce_id18(check_id(body.get("userId"), "userId"))
    record_id = salesforce_id18(check_id(body.get("recordId"), "recordId", required=False))
    record_type = check_id(body.get("objectApiName"), "objectApiName", required=False)
    session: Session = request_session()
    tenant = tenant_id_for("salesforce", org_id)
    row = bind_user(session, tenant, "salesforce", "", user_id)
    identity = identity_for(row, record_id, record_type)
    ctx = widget_context_for(session, identity, "salesforce")
    session.commit()
    return jsonify(ctx)
