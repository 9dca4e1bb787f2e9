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

from plugin.db import request_session
from plugin.practice.scenarios import library
from plugin.practice.service import PracticeService, require_scenario
from plugin.web.auth import current_identity, require_identity
from plugin.web.errors import ApiError

bp = Blueprint("practice_api", __name__, url_prefix="/api/v1/practice")

MAX_AUDIO_BYTES = 10 * 1024 * 1024  # 10 MiB: ~5 min of 16 kHz 16-bit mono WAV
MAX_AUDIO_SECONDS = 120


def _service() -> PracticeService:
    settings = current_app.config["SETTINGS"]
    return PracticeService(request_session(), current_identity(),
                           max_reply_chars=settings.max_reply_chars,
                           embeddings=settings.embeddings)


def _json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 naming what is wrong with the body."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type",
                       "send the body as JSON with Content-Type: application/json")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "the JSON body must be an object")
    return data


def _commit(result: Any, status: int = 200) -> Any:
    request_session().commit()
    return jsonify(result), status


@bp.get("/scenarios")
@require_identity
def list_scenarios() -> Any:
    return jsonify(scenarios=[s.summary_dict() for s in library().values()])


@bp.get("/scenarios/<scenario_id>")
@require_identity
def get_scenario(scenario_id: str) -> Any:
    return jsonify(require_scenario(scenario_id).summary_dict())


@bp.post("/sessions")
@require_identity
def start_session() -> Any:
    body = _json_body()
    return _commit(_service().start(body.get("scenario_id")), 201)


@bp.get("/sessions")
@require_identity
def list_sessions() -> Any:
    return jsonify(_service().history(request.args.get("scenario_id") or None,
                                      _limit(request.args.get("limit"))))


@bp.get("/progress")
@require_identity
def progress() -> Any:
    hist = _service().history(request.args.get("scenario_id") or None,
                              _limit(request.args.get("limit"), 200))
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


@bp.post("/sessions/<session_id>/replies/audio")
@require_identity
def post_audio_reply(session_id: str) -> Any:
    """A spoken reply: a WAV file (raw body or multipart field ``audio``), transcribed."""
    service = _service()
    service.get(session_id)  # 404 before any transcription work
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


def _limit(value: str | None, default: int = 50) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise ApiError(400, "invalid_request", "limit must be an integer", field="limit") from None
    if not 1 <= n <= 200:
        raise ApiError(400, "invalid_request", "limit must be between 1 and 200", field="limit")
    return n


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
