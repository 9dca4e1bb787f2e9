"""Practice REST API (JSON) under ``/api/v1/practice``: scenarios, sessions, replies, progress.

Every route needs a session token; sessions are scoped to the caller's tenant and user.
Documented in docs/practice.md.
"""

from __future__ import annotations

import io
import tempfile
import wave
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from plugin import audit
from plugin.db import request_session
from plugin.practice.service import PracticeService
from plugin.web.auth import current_identity, require_identity
from plugin.web.errors import ApiError
from plugin.web.inputs import arg_int, arg_str, json_object

bp = Blueprint("practice_api", __name__, url_prefix="/api/v1/practice")

MAX_AUDIO_BYTES = 10 * 1024 * 1024  # 10 MiB: ~5 min of 16 kHz 16-bit mono WAV
MAX_AUDIO_SECONDS = 120


def _service() -> PracticeService:
    settings = current_app.config["SETTINGS"]
    return PracticeService(request_session(), current_identity(),
                           max_reply_chars=settings.max_reply_chars,
                           embeddings=settings.embeddings, buyer_llm=_buyer_llm())


def _buyer_llm() -> Any:
    """Gemini plays the buyer when the LLM provider is Gemini (one client per app)."""
    settings = current_app.config["SETTINGS"]
    if settings.llm_provider != "gemini":
        return None
    engine = current_app.extensions.get("salescoach.practice_buyer")
    if engine is None:
        from plugin.practice.llm_buyer import GeminiBuyer

        engine = GeminiBuyer(settings.gemini_api_key, settings.gemini_model,
                             base_url=settings.gemini_base_url)
        current_app.extensions["salescoach.practice_buyer"] = engine
    return engine


def _json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 naming what is wrong with the body."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type",
                       "send the body as JSON with Content-Type: application/json")
    return json_object(required=True)


def _commit(result: Any, status: int = 200) -> Any:
    request_session().commit()
    return jsonify(result), status


@bp.get("/scenarios")
@require_identity
def list_scenarios() -> Any:
    return jsonify(scenarios=_service().scenarios())


@bp.get("/scenarios/<scenario_id>")
@require_identity
def get_scenario(scenario_id: str) -> Any:
    return jsonify(_service().scenario(scenario_id).summary_dict())


@bp.post("/sessions")
@require_identity
def start_session() -> Any:
    """Start a session on a scenario (``scenario_id``) or, with ``record_id`` (and
    ``record_type``), against this CRM record's customer."""
    body = _json_body()
    if body.get("record_id") not in (None, ""):
        context = _customer_context(body.get("record_id"), body.get("record_type"))
        return _commit(_service().start_customer(context, body.get("seed")), 201)
    return _commit(_service().start(body.get("scenario_id"), body.get("seed")), 201)


@bp.post("/drills")
@require_identity
def post_drill() -> Any:
    """A free-form drill: ``customer_line`` and ``text`` (the answer), optional
    ``scenario_id`` (whose facts apply) and ``previous_id`` (the attempt this one retries)."""
    body = _json_body()
    for name in ("customer_line", "text"):
        if name not in body:
            raise ApiError(400, "invalid_request", f"missing field '{name}'", field=name)
    return _commit(_service().drill(body["customer_line"], body["text"],
                                    body.get("scenario_id"), body.get("previous_id")), 201)


@bp.post("/drills/audio")
@require_identity
def post_drill_audio() -> Any:
    """A drill answered by voice: the WAV (multipart field ``audio``, or the raw body) with
    ``customer_line`` and optional ``scenario_id`` / ``previous_id`` as form fields (or query
    parameters with a raw body); the transcript is scored as a typed answer would be."""
    fields = request.form if request.files else request.args
    line = fields.get("customer_line", "")
    if not line.strip():
        raise ApiError(400, "invalid_request", "missing field 'customer_line'",
                       field="customer_line")
    previous: Any = fields.get("previous_id") or None
    if previous is not None:
        if not (previous.isascii() and previous.isdigit() and len(previous) <= 18):
            raise ApiError(400, "invalid_request", "previous_id must be an integer",
                           field="previous_id")
        previous = int(previous)
    raw = _audio_bytes()
    _check_wav(raw)
    text = _transcribe(raw)
    result = _service().drill(line, text, fields.get("scenario_id") or None, previous,
                              source="voice")
    result["transcript"] = text
    return _commit(result, 201)


@bp.get("/drills")
@require_identity
def list_drills() -> Any:
    return jsonify(items=_service().drills(_limit(20)))


@bp.get("/drill-lines")
@require_identity
def drill_lines() -> Any:
    """Customer lines to drill on from a CRM record's history and its past calls."""
    record_id = arg_str("record_id", 64)
    context = None
    if record_id:
        try:
            context = _customer_context(record_id, arg_str("record_type", 32))
        except ApiError as exc:
            if exc.code != "no_crm":
                raise
            # No CRM connected: past calls still give lines; the panel degrades silently.
    return jsonify(items=_service().drill_lines(context, record_id))


def _customer_context(record_id: Any, record_type: Any) -> Any:
    """The CRM record's customer context; 400 for a bad id, 404 when the CRM has no such
    record or none is connected, 503 when the CRM can't be reached."""
    from plugin.crm import adapter_for
    from plugin.providers.errors import ProviderInputError, ProviderUnavailable

    if not isinstance(record_id, str) or not record_id.strip() or len(record_id) > 64:
        raise ApiError(400, "invalid_request", "record_id must be a CRM record id",
                       field="record_id")
    if record_type is not None and not isinstance(record_type, str):
        raise ApiError(400, "invalid_request", "record_type must be a string",
                       field="record_type")
    settings = current_app.config["SETTINGS"]
    who = current_identity()
    adapter = adapter_for(request_session(), who.tenant_id, settings, record_id=record_id)
    if adapter is None:
        raise ApiError(404, "no_crm", "this tenant has no connected CRM to read the record from")
    try:
        return adapter.customer_context(record_id.strip(), record_type or "")
    except ProviderInputError as exc:
        raise ApiError(404 if exc.status in (None, 404) else 400, "unknown_record",
                       f"CRM record {record_id!r}: {exc}", record_id=record_id) from None
    except ProviderUnavailable as exc:
        raise ApiError(503, "crm_unavailable", f"the CRM can't be reached now: {exc}",
                       retryable=True) from None


@bp.get("/sessions")
@require_identity
def list_sessions() -> Any:
    return jsonify(_service().history(arg_str("scenario_id", 64) or None,
                                      _limit()))


@bp.get("/progress")
@require_identity
def progress() -> Any:
    hist = _service().history(arg_str("scenario_id", 64) or None,
                              _limit(200))
    return jsonify(hist["progress"])


@bp.get("/sessions/<session_id>")
@require_identity
def get_session(session_id: str) -> Any:
    return jsonify(_service().get(session_id))


@bp.post("/sessions/<session_id>/replies")
@require_identity
def post_reply(session_id: str) -> Any:
    body = _json_body()
    if "text" not in body:
        raise ApiError(400, "invalid_request", "missing field 'text' (the rep's reply)",
                       field="text")
    return _commit(_service().reply(session_id, body["text"]), 201)


@bp.post("/sessions/<session_id>/replies/stream")
@require_identity
def post_reply_stream(session_id: str) -> Any:
    """Like ``/replies`` as server-sent events: ``feedback`` (the scored reply, at once), then
    ``buyer`` pieces of the buyer's line as the engine voices it, then ``done`` (the session).
    Bad input answers the same 4xx JSON as ``/replies`` before any event."""
    import json as _json

    from flask import Response, stream_with_context

    body = _json_body()
    if "text" not in body:
        raise ApiError(400, "invalid_request", "missing field 'text' (the rep's reply)",
                       field="text")
    service = _service()
    result = service.reply(session_id, body["text"], voiced=False)
    request_session().commit()

    def events() -> Any:
        # the view's database session may be closed at teardown before the stream runs:
        # the stream uses the service's own session and closes it
        db_session = service.s
        try:
            yield f"event: feedback\ndata: {_json.dumps(result['reply'])}\n\n"
            engine = "local"
            streamed = False
            for engine, piece in service.stream_voice(session_id) or []:
                streamed = True
                yield (f"event: buyer\ndata: "
                       f"{_json.dumps({'engine': engine, 'text': piece})}\n\n")
            if not streamed:
                db_session.commit()  # hold no lock while the client reads
                yield ("event: buyer\ndata: "
                       f"{_json.dumps({'engine': 'local', 'text': result['buyer']['text']})}\n\n")
            db_session.commit()
            session = service.get(session_id)
            db_session.commit()
            yield f"event: done\ndata: {_json.dumps({'session': session, 'engine': engine})}\n\n"
        finally:
            db_session.rollback()
            db_session.close()

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.post("/sessions/<session_id>/replies/audio")
@require_identity
def post_audio_reply(session_id: str) -> Any:
    """A spoken reply: a WAV file (raw body or multipart field ``audio``), transcribed."""
    service = _service()
    service.check_own(session_id)  # 404 before any transcription work
    raw = _audio_bytes()
    _check_wav(raw)
    text = _transcribe(raw)
    result = service.reply(session_id, text, source="voice")
    result["transcript"] = text
    return _commit(result, 201)


@bp.post("/sessions/<session_id>/finish")
@require_identity
def finish_session(session_id: str) -> Any:
    return _commit(_service().finish(session_id))


def _limit(default: int = 50) -> int:
    return arg_int("limit", default, 1, 200)


def _audio_bytes() -> bytes:
    length = request.content_length
    if length is not None and length > MAX_AUDIO_BYTES + 64 * 1024:
        raise ApiError(413, "audio_too_large",
                       f"audio is limited to {MAX_AUDIO_BYTES // (1024 * 1024)} MiB",
                       limit_bytes=MAX_AUDIO_BYTES)
    if request.files:
        f = request.files.get("audio")
        if f is None:
            raise ApiError(400, "invalid_request", "send the WAV in the multipart field 'audio'",
                           field="audio")
        raw = f.read(MAX_AUDIO_BYTES + 1)
    else:
        raw = request.get_data(cache=False)
    if not raw:
        raise ApiError(400, "empty_audio", "no audio received; send a WAV file")
    if len(raw) > MAX_AUDIO_BYTES:
        raise ApiError(413, "audio_too_large",
                       f"audio is limited to {MAX_AUDIO_BYTES // (1024 * 1024)} MiB",
                       limit_bytes=MAX_AUDIO_BYTES)
    return raw


def _check_wav(raw: bytes) -> None:
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ApiError(415, "unsupported_audio", "audio must be a WAV file (RIFF/WAVE)")
    try:
        with wave.open(io.BytesIO(raw)) as w:
            frames, rate = w.getnframes(), w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise ApiError(400, "invalid_audio", f"the WAV file cannot be read: {exc}") from None
    seconds = frames / rate if rate else 0
    if seconds > MAX_AUDIO_SECONDS:
        raise ApiError(413, "audio_too_long",
                       f"the recording is {seconds:.0f} s; the limit is {MAX_AUDIO_SECONDS} s",
                       limit_seconds=MAX_AUDIO_SECONDS)
    if seconds < 0.2:
        raise ApiError(400, "invalid_audio", "the recording is too short to contain a reply")


def _transcribe(raw: bytes) -> str:
    from plugin.providers.errors import ProviderError, ProviderInputError
    from plugin.speech import get_stt

    settings = current_app.config["SETTINGS"]
    with tempfile.TemporaryDirectory(prefix="practice-audio-") as tmp:
        path = Path(tmp) / "reply.wav"
        path.write_bytes(raw)
        try:
            turns = get_stt(settings).transcribe_file(path)
        except ProviderInputError as exc:
            raise ApiError(400, "invalid_audio", str(exc)) from None
        except ProviderError as exc:
            raise ApiError(503, "transcription_unavailable",
                           f"speech-to-text failed: {exc}; try again or type your reply",
                           retryable=exc.retryable) from None
    text = " ".join(t.text.strip() for t in sorted(turns, key=lambda t: t.start_ms) if t.text)
    if not text.strip():
        raise ApiError(422, "no_speech", "no speech was recognised in the recording")
    return text


# Assignments for the rep --------------------------------------------------------------------
@bp.get("/assignments")
@require_identity
def my_assignments() -> Any:
    from plugin.practice.authoring import assignments_for

    who = current_identity()
    return jsonify(items=assignments_for(request_session(), who.tenant_id, who.user_id))


# Managers: scenarios, assignments, team progress (admin role) --------------------------------
def _admin() -> Any:
    from plugin.web.crm_oauth import admin_identity

    return admin_identity()


def _scenario_text(body: dict[str, Any]) -> str:
    """The YAML of a scenario from ``yaml`` (the text) or ``form`` (the short form's fields)."""
    from plugin.practice.authoring import form_yaml

    if isinstance(body.get("form"), dict):
        return form_yaml({str(k): str(v) for k, v in body["form"].items()})
    text = body.get("yaml")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "invalid_request", "send the scenario as 'yaml' (text) or 'form'",
                       field="yaml")
    return text


def _problems(exc: Any) -> ApiError:
    return ApiError(422, "invalid_scenario", str(exc), problems=exc.problems)


@bp.get("/admin/scenarios")
def admin_scenarios() -> Any:
    from sqlalchemy import select

    from plugin.models import PracticeScenario

    who = _admin()
    rows = request_session().scalars(select(PracticeScenario).where(
        PracticeScenario.tenant_id == who.tenant_id).order_by(PracticeScenario.scenario_id))
    return jsonify(items=[{"id": r.scenario_id, "title": r.title, "yaml": r.yaml_text,
                           "updated_at": r.updated_at.isoformat() if r.updated_at else None}
                          for r in rows])


@bp.post("/admin/scenarios/preview")
def admin_preview() -> Any:
    """Validate a scenario without saving: its summary and objections, or 422 with the line
    and field of every problem."""
    from plugin.practice.authoring import ScenarioProblems, validate_yaml

    _admin()
    text = _scenario_text(_json_body())
    try:
        scenario = validate_yaml(text)
    except ScenarioProblems as exc:
        raise _problems(exc) from None
    return jsonify(scenario=scenario.summary_dict(), yaml=text, objections=[
        {"id": o.id, "type": o.type, "line": o.phrasings[0],
         "key_points": [k.label for k in o.key_points]} for o in scenario.objections])


@bp.post("/admin/scenarios")
def admin_save() -> Any:
    from plugin.practice.authoring import ScenarioProblems, save_scenario

    who = _admin()
    text = _scenario_text(_json_body())
    try:
        scenario, created = save_scenario(request_session(), who.tenant_id, text)
    except ScenarioProblems as exc:
        raise _problems(exc) from None
    audit.record(request_session(), who.tenant_id, who, "practice.scenario_save",
                 f"scenario:{scenario.id}", created=created)
    return _commit({"scenario": scenario.summary_dict(), "created": created},
                   201 if created else 200)


@bp.delete("/admin/scenarios/<scenario_id>")
def admin_delete(scenario_id: str) -> Any:
    from plugin.practice.authoring import delete_scenario

    who = _admin()
    if not delete_scenario(request_session(), who.tenant_id, scenario_id):
        raise ApiError(404, "not_found", f"scenario {scenario_id!r} not found")
    audit.record(request_session(), who.tenant_id, who, "practice.scenario_delete",
                 f"scenario:{scenario_id}")
    return _commit({"deleted": scenario_id})


@bp.post("/admin/assignments")
def admin_assign() -> Any:
    """Assign a scenario to reps: ``scenario_id``, ``user_ids`` (this tenant's users), optional
    ``due_date`` (YYYY-MM-DD) and ``note``."""
    from datetime import date

    from plugin.models import User
    from plugin.practice.authoring import assign, assignment_view

    who = _admin()
    body = _json_body()
    session = request_session()
    settings = current_app.config["SETTINGS"]
    scenario = PracticeService(session, who, max_reply_chars=settings.max_reply_chars,
                               embeddings=settings.embeddings).scenario(body.get("scenario_id"))
    ids = body.get("user_ids")
    if not isinstance(ids, list) or not ids or len(ids) > 500 or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**31 for i in ids):
        raise ApiError(400, "invalid_request", "user_ids must be a list of 1..500 user ids",
                       field="user_ids")
    due = None
    if body.get("due_date") not in (None, ""):
        try:
            due = date.fromisoformat(str(body["due_date"]))
        except ValueError:
            raise ApiError(400, "invalid_request", "due_date must be YYYY-MM-DD",
                           field="due_date") from None
    note = body.get("note") or ""
    if not isinstance(note, str) or len(note) > 500:
        raise ApiError(400, "invalid_request", "note must be text of at most 500 characters",
                       field="note")
    for uid in ids:
        user = session.get(User, uid)
        if user is None or user.tenant_id != who.tenant_id:
            raise ApiError(404, "not_found", f"user {uid} not found", field="user_ids")
    rows = assign(session, who.tenant_id, scenario.id, list(dict.fromkeys(ids)), due, note,
                  who.name or who.crm_user_id)
    audit.record(session, who.tenant_id, who, "practice.assign", f"scenario:{scenario.id}",
                 user_ids=[r.user_id for r in rows], due_date=due.isoformat() if due else None)
    return _commit({"items": [assignment_view(r, []) for r in rows]}, 201)


@bp.delete("/admin/assignments/<int:assignment_id>")
def admin_unassign(assignment_id: int) -> Any:
    from plugin.models import PracticeAssignment

    who = _admin()
    session = request_session()
    row = session.get(PracticeAssignment, assignment_id)
    if row is None or row.tenant_id != who.tenant_id:
        raise ApiError(404, "not_found", "assignment not found")
    session.delete(row)
    audit.record(session, who.tenant_id, who, "practice.unassign", f"assignment:{assignment_id}",
                 user_id=row.user_id, scenario_id=row.scenario_id)
    return _commit({"deleted": assignment_id})


@bp.get("/admin/team")
def admin_team() -> Any:
    """Progress per rep and per skill over time (weekly), and every assignment's status."""
    from sqlalchemy import select

    from plugin.models import User
    from plugin.practice.authoring import team_progress

    who = _admin()
    session = request_session()
    users = [{"id": u.id, "name": u.name or u.crm_user_id, "role": u.role}
             for u in session.scalars(select(User).where(User.tenant_id == who.tenant_id)
                                      .order_by(User.id))]
    return jsonify({**team_progress(session, who.tenant_id), "users": users})


@bp.post("/tts")
@require_identity
def tts() -> Any:
    """The buyer's line as a WAV from a local engine: ``{"text", "engine": auto|piper|espeak}``
    (the panel uses the browser's voice unless asked for server audio)."""
    from flask import Response

    from plugin.practice.tts import MAX_TTS_CHARS, TtsUnavailable, synthesize_wav

    body = _json_body()
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "invalid_request", "text must be a non-empty string", field="text")
    if len(text) > MAX_TTS_CHARS:
        raise ApiError(413, "text_too_long", f"at most {MAX_TTS_CHARS} characters",
                       field="text", limit=MAX_TTS_CHARS)
    engine = body.get("engine", "auto")
    if engine not in ("auto", "piper", "espeak"):
        raise ApiError(400, "invalid_request", "engine must be auto, piper or espeak",
                       field="engine")
    try:
        audio = synthesize_wav(text, engine)
    except TtsUnavailable as exc:
        raise ApiError(503, "tts_unavailable", str(exc)) from None
    return Response(audio, mimetype="audio/wav")
