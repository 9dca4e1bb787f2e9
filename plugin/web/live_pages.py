"""The live coach page (``/panel/live``) and the JSON API of live calls, turns and nudges."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from flask import Blueprint, current_app, jsonify
from sqlalchemy import select

from plugin.db import request_session
from plugin.live import stream_tokens
from plugin.live.sources import MAX_FRAME_BYTES, MAX_FRAME_MS
from plugin.models import Call, Nudge, Turn, as_dict, utcnow
from plugin.privacy.consent import normalise as normalise_consent
from plugin.tenancy import visible, visible_filter
from plugin.web.auth import current_identity, require_identity
from plugin.web.errors import ApiError
from plugin.web.inputs import arg_str, body_str, id_value, json_object
from plugin.web.panel import render_panel

bp = Blueprint("live", __name__)

CALL_FIELDS = ("id", "status", "source", "record_id", "record_type", "title", "started_at",
               "ended_at", "duration_ms")


@bp.get("/panel/live")
def live_page() -> Any:
    """The live coach: capture, transcript, nudges, gauges."""
    return render_panel("live.html", max_frame_ms=MAX_FRAME_MS)


@bp.get("/api/v1/live/calls")
@require_identity
def list_calls() -> Any:
    """The live-coached calls the viewer may see (own; a manager's team; an admin's org),
    newest first (``?status=live`` filters)."""
    ident = current_identity()
    s = request_session()
    q = select(Call).where(visible_filter(s, Call, ident),
                           Call.source.in_(("panel", "twilio", "replay")))
    status = arg_str("status", 32, code="bad_status")
    if status:
        if status not in ("live", "ended", "analysed", "failed"):
            raise ApiError(400, "bad_status", "status must be live, ended, analysed or failed")
        q = q.where(Call.status == status)
    rows = s.scalars(q.order_by(Call.started_at.desc()).limit(100)).all()
    return jsonify(calls=[as_dict(c, *CALL_FIELDS) for c in rows])


@bp.get("/api/v1/live/calls/<call_id>")
@require_identity
def get_call(call_id: str) -> Any:
    """One call with its turns and nudges (what the panel reloads after a resume)."""
    s = request_session()
    call = visible(s, Call, call_id, current_identity(), "call")
    turns = s.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.seq)).all()
    nudges = s.scalars(select(Nudge).where(Nudge.call_id == call.id).order_by(Nudge.id)).all()
    return jsonify(call={**as_dict(call, *CALL_FIELDS), "metrics": call.metrics},
                   turns=[as_dict(t, "seq", "speaker", "text", "start_ms", "end_ms")
                          for t in turns],
                   nudges=[as_dict(n, "id", "turn_seq", "at_ms", "category", "severity", "text",
                                   "rule", "source", "rating") for n in nudges])


@bp.post("/api/v1/nudges/<int:nudge_id>/rating")
@require_identity
def rate_nudge(nudge_id: int) -> Any:
    """Store the rep's 👍 (+1) or 👎 (-1) on a nudge; ``0`` clears it."""
    body = json_object()
    if "rating" not in body:
        raise ApiError(400, "bad_request", 'send JSON {"rating": 1 | -1 | 0}')
    rating = body["rating"]
    if isinstance(rating, bool) or rating not in (1, -1, 0):
        raise ApiError(400, "bad_rating", "rating must be 1 (helpful), -1 (not helpful) or 0")
    s = request_session()
    nudge = visible(s, Nudge, nudge_id, current_identity(), "nudge", act=True)
    nudge.rating = rating or None
    nudge.rated_at = utcnow() if rating else None
    s.commit()
    return jsonify(id=nudge.id, rating=nudge.rating)


@bp.post("/api/v1/live/twilio")
@require_identity
def twilio_setup() -> Any:
    """A stream token and the TwiML that points a Twilio call's audio at ``/ws/twilio``.

    Body (optional): ``{"record_id", "record_type"}`` of the CRM record the call is about,
    ``consent`` (``obtained`` once every party agreed; a two_party tenant needs it).
    """
    body = json_object()
    record_id = id_value(body.get("record_id") or "", "record_id", 64)
    record_type = body_str(body, "record_type", 32)
    consent = normalise_consent(body.get("consent"))
    settings = current_app.config["SETTINGS"]
    token = stream_tokens.issue(settings, current_identity())  # one stream, expires
    base = settings.public_base_url
    ws_url = base.replace("https://", "wss://").replace("http://", "ws://") + "/ws/twilio"
    params = "".join(f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>"
                     for k, v in (("token", token), ("record_id", record_id),
                                  ("record_type", record_type), ("consent", consent)) if v)
    twiml = (f'<Response><Start><Stream url={quoteattr(ws_url)} track="both_tracks">{params}'
             f"</Stream></Start><Dial>…</Dial></Response>")
    return jsonify(stream_url=ws_url, token=token, twiml=twiml,
                   expires_in=settings.stream_token_ttl_s,
                   limits={"max_frame_bytes": MAX_FRAME_BYTES})
