"""HubSpot app card backend: ``POST /hubspot/card/context`` verified with the v3 signature.

The card calls ``hubspot.fetch(BASE + "/hubspot/card/context", {method: "POST", body})``;
HubSpot signs method + full URI + raw body + timestamp with our client secret and adds
``portalId``/``userId``/``userEmail`` query parameters. The URI we verify is built from
``SALESCOACH_PUBLIC_BASE_URL`` (what HubSpot called), never the Host header a proxy rewrote.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session

from plugin.crm_auth import (
    HUBSPOT_REPLAY_S,
    SignatureError,
    hubspot_signing_uri,
    verify_hubspot_v3,
)
from plugin.db import request_session
from plugin.safejson import UnsafeInput
from plugin.safejson import loads as safe_loads
from plugin.web.crm_common import (
    bind_user,
    check_id,
    crm_app,
    identity_for,
    refuse_replay,
    settings,
    tenant_id_for,
    widget_context_for,
)
from plugin.web.errors import ApiError

bp = Blueprint("hubspot_card", __name__)

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_BODY = 64 * 1024
OBJECT_TYPES = {"0-1": "contact", "0-2": "company", "0-3": "deal"}


def _client_secret() -> str:
    try:
        return crm_app(settings(), "hubspot").client_secret
    except ApiError:
        return ""


def _field(body: dict[str, Any], name: str) -> Any:
    """A context field: HubSpot's own query parameter wins over the card's JSON body."""
    from_query = request.args.get(name)
    from_body = body.get(name)
    if from_query and from_body not in (None, "") and str(from_body) != from_query:
        raise ApiError(400, "invalid_request",
                       f"{name} in the body ({from_body}) differs from HubSpot's ({from_query})")
    return from_query or from_body


@bp.post("/hubspot/card/context")
def card_context() -> Any:
    """Verify the v3 signature, then answer the widget context for the contact on screen."""
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise ApiError(413, "too_large", f"body larger than {MAX_BODY} bytes")
    uri = hubspot_signing_uri(settings().public_base_url, request.path,
                              request.query_string.decode("latin-1"))
    try:
        verify_hubspot_v3(request.method, uri, raw, request.headers.get(SIGNATURE_HEADER),
                          request.headers.get(TIMESTAMP_HEADER), _client_secret())
    except SignatureError as exc:
        raise ApiError(401, "invalid_signature", exc.reason) from None
    refuse_replay("hubspot", str(request.headers.get(SIGNATURE_HEADER)), HUBSPOT_REPLAY_S)
    try:
        body = safe_loads(raw) if raw.strip() else {}
    except UnsafeInput as exc:
        raise ApiError(400, "invalid_json", exc.message) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    portal_id = check_id(_field(body, "portalId"), "portalId")
    user_id = check_id(_field(body, "userId"), "userId")
    email = _field(body, "userEmail") or ""
    if not isinstance(email, str) or len(email) > 255:
        raise ApiError(400, "invalid_request", "userEmail must be text of at most 255 characters")
    object_id = check_id(body.get("objectId"), "objectId", required=False)
    object_type = str(body.get("objectType") or "contact")
    object_type = OBJECT_TYPES.get(object_type, object_type).lower()
    check_id(object_type, "objectType")
    session: Session = request_session()
    tenant = tenant_id_for("hubspot", portal_id)
    row = bind_user(session, tenant, "hubspot", "", user_id, "", email)
    identity = identity_for(row, object_id, object_type)
    ctx = widget_context_for(session, identity, "hubspot")
    session.commit()
    return jsonify(ctx)
