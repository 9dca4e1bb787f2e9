"""Recordings in: ``POST /api/v1/recordings`` (multipart upload) and its status.

Limits: ``settings.max_upload_mb`` (413 beyond it); WAV, MP3, M4A, OGG, WebM or FLAC, checked
by the file's magic bytes (415 otherwise); an empty file is a 400; ``record_id`` (the CRM
record the call was with) is checked against the CRM when it is connected (422 if unknown).
The file and its rows are stored before the transcription task is queued.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from sqlalchemy import select

from plugin.db import db, request_session
from plugin.models import OutboxItem, Recording, Report
from plugin.pipeline import submit_recording
from plugin.pipeline.recordings import FORMATS, UploadRejected, check_record_id, store_upload
from plugin.privacy.consent import ConsentRequired
from plugin.privacy.consent import check as check_consent
from plugin.providers.errors import ProviderInputError, ProviderUnavailable
from plugin.settings import Settings
from plugin.tenancy import visible
from plugin.web.auth import current_identity, require_identity
from plugin.web.errors import ApiError
from plugin.web.inputs import form_str, json_object

log = logging.getLogger(__name__)
bp = Blueprint("recordings_api", __name__)


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def _check_record_exists(tenant_id: str, record_id: str, record_type: str) -> None:
    """422 when the connected CRM says the record does not exist; other failures let the
    upload through (the write-back will report them)."""
    from plugin.crm import adapter_for

    with db.session_scope() as s:
        adapter = adapter_for(s, tenant_id, _settings(), record_id=record_id)
    if adapter is None:
        return
    try:
        adapter.customer_context(record_id, record_type)
    except ProviderInputError as exc:
        raise ApiError(422, "unknown_record", f"CRM record {record_id!r} not found: {exc.message}",
                       record_id=record_id) from None
    except ProviderUnavailable as exc:
        log.warning("could not check CRM record %s now (%s); accepting the upload", record_id, exc)


@bp.post("/api/v1/recordings")
@require_identity
def upload() -> Any:
    """Upload a call recording (field ``file``; optional ``record_id``, ``record_type``,
    ``title``, ``consent``: ``obtained`` is required under a two_party policy); answers 202
    with the recording id and where to poll its status."""
    ident = current_identity()
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ApiError(400, "missing_file", "send the recording as multipart field 'file'",
                       accepted=list(FORMATS), max_mb=_settings().max_upload_mb)
    record_id = form_str("record_id", 64) or ident.record_id
    record_type = form_str("record_type", 32) or ident.record_type
    try:
        record_id = check_record_id(record_id)
    except UploadRejected as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    try:  # before anything is stored: a refused recording never touches the disk
        consent = check_consent(ident.tenant_id, ("mixed",), request.form.get("consent"))
    except ConsentRequired as exc:
        raise ApiError(422, exc.code, exc.message, field="consent") from None
    if record_id:
        _check_record_exists(ident.tenant_id, record_id, record_type)
    try:
        stored = store_upload(_settings(), tenant_id=ident.tenant_id, user_id=ident.user_id,
                              filename=file.filename, stream=file.stream, record_id=record_id,
                              record_type=record_type, title=form_str("title", 255),
                              consent=consent)
    except UploadRejected as exc:
        raise ApiError(exc.status, exc.code, exc.message, accepted=list(FORMATS),
                       max_mb=_settings().max_upload_mb) from None
    try:
        submit_recording(stored.recording_id)
    except Exception:  # noqa: BLE001 - the broker is down: stored, the sweep queues it later
        log.exception("could not enqueue recording %s; the sweep will", stored.recording_id)
    status_url = url_for("recordings_api.status", recording_id=stored.recording_id)
    return jsonify(recording_id=stored.recording_id, call_id=stored.call_id, status="queued",
                   stage="uploaded", status_url=status_url), 202, {"Location": status_url}


def recording_status(session: Any, rec: Recording) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rec.id, "call_id": rec.call_id, "filename": rec.filename, "size": rec.size,
        "content_type": rec.content_type, "status": rec.status, "stage": rec.stage,
        "progress": rec.progress, "error": rec.error or None,
        "created_at": rec.created_at.isoformat() if rec.created_at else None,
        "report_version": None, "writeback": None,
    }
    if rec.call_id:
        version = session.scalar(select(Report.version).where(Report.call_id == rec.call_id)
                                 .order_by(Report.version.desc()).limit(1))
        out["report_version"] = version
        if version is not None:
            out["report_url"] = f"/panel/calls/{rec.call_id}"
        item = session.scalar(select(OutboxItem).where(OutboxItem.call_id == rec.call_id)
                              .order_by(OutboxItem.id.desc()).limit(1))
        if item is not None:
            out["writeback"] = {"status": item.status, "crm": item.crm,
                                "crm_id": item.crm_id or None,
                                "attempts": item.attempts, "error": item.last_error or None}
    return out


@bp.get("/api/v1/recordings/<recording_id>")
@require_identity
def status(recording_id: str) -> Any:
    """Stage (uploaded → transcribing → analysing → reporting → writing_back → done), progress
    0–100, the error if it failed, and the write-back state."""
    s = request_session()
    rec = visible(s, Recording, recording_id, current_identity(), "recording")
    return jsonify(recording_status(s, rec))


@bp.post("/api/v1/calls/<call_id>/speakers")
@require_identity
def fix_speakers(call_id: str) -> Any:
    """Correct who said what, then analyse again: ``{"swap": true}`` exchanges rep and
    customer on every turn; ``{"turns": {"<seq>": "rep"|"customer", …}}`` sets single turns.
    Answers 202 with the turns as stored; the new report version follows (a new version
    only when a speaker really changed)."""
    from plugin.models import Call, Turn
    from plugin.pipeline import submit_call

    s = request_session()
    call = visible(s, Call, call_id, current_identity(), "call", act=True)  # 404 first
    body = json_object()
    if not (("swap" in body) ^ ("turns" in body)):
        raise ApiError(400, "bad_request", 'send {"swap": true} or {"turns": {"<seq>": '
                       '"rep"|"customer"}}')
    changes: dict[int, str] = {}
    if "turns" in body:
        turns_in = body["turns"]
        if not isinstance(turns_in, dict) or not turns_in or len(turns_in) > 5000:
            raise ApiError(400, "bad_turns", "turns must map turn numbers to 'rep' or "
                           "'customer'")
        for key, speaker in turns_in.items():
            if not re.fullmatch(r"[0-9]{1,9}", str(key)) or speaker not in ("rep", "customer"):
                raise ApiError(400, "bad_turns", f"turn {key!r}: the speaker must be 'rep' or "
                               "'customer' and the turn a number")
            changes[int(key)] = speaker
    elif body["swap"] is not True:
        raise ApiError(400, "bad_request", "swap must be true")
    if call.status == "live":
        raise ApiError(409, "call_live", "the call is still live; fix speakers when it ends")
    rows = list(s.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.seq)))
    by_seq = {r.seq: r for r in rows}
    unknown = sorted(set(changes) - set(by_seq))
    if unknown:
        raise ApiError(404, "unknown_turn", f"the call has no turn {unknown[0]}",
                       turns=[r.seq for r in rows][:50])
    flip = {"rep": "customer", "customer": "rep"}
    changed = 0
    for row in rows:
        new = changes.get(row.seq, row.speaker) if changes else flip.get(row.speaker,
                                                                           row.speaker)
        if new != row.speaker:
            row.speaker, changed = new, changed + 1
    turns_out = [{"seq": r.seq, "speaker": r.speaker, "text": r.text, "start_ms": r.start_ms,
                  "end_ms": r.end_ms} for r in rows]
    s.commit()
    if changed:
        try:
            submit_call(call.id)
        except Exception:  # noqa: BLE001 - the fix is stored; "analyse again" can re-run it
            log.exception("could not queue the analysis of %s after a speaker fix", call.id)
    return jsonify(call_id=call.id, changed=changed, reanalysing=bool(changed),
                   turns=turns_out), 202
