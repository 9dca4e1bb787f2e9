"""A local server that speaks AssemblyAI's wire protocol, for offline use, tests and load tests.

REST (v2, what ``aai.Transcriber`` uses): ``POST /v2/upload`` (raw bytes → ``upload_url``),
``POST /v2/transcript`` (JSON with ``audio_url``, ``speaker_labels``, ``multichannel``…),
``GET /v2/transcript/{id}`` (status queued → processing → completed | error, with ``text``,
``words``, ``utterances``, ``audio_duration``). The ``authorization`` header must be the raw
API key; anything else is a 401 ``{"error": …}``.

Universal-Streaming v3 (what ``RealTimeTranscriber`` uses), on its own port:
``GET /v3/ws?sample_rate=16000&encoding=pcm_s16le…`` upgraded to a WebSocket. The server
sends ``Begin``; the client sends binary audio (50–1000 ms per message) and JSON
``Terminate`` / ``ForceEndpoint`` / ``KeepAlive`` / ``UpdateConfiguration``; the server sends
``Turn`` messages (``end_of_turn`` false while speaking, then true; with ``format_turns`` an
unformatted end-of-turn followed by the formatted one) and ``Termination`` before closing.
A wrong key is refused at the handshake with HTTP 401. The SDK takes ``http://`` base URLs and
``ws://`` streaming hosts, so no TLS is needed.

Backends:
- ``WhisperBackend``: really transcribes, with the local Whisper engine.
- ``ScriptBackend``: replays a call script (the demo-call JSON) on the audio clock: each
  scripted turn is emitted as partials while the audio passes it and as a final
  ``endpoint_ms`` after its end, if the session's audio carried voice during that turn
  (so the rep and customer channels each get their own turns). Costs almost no CPU: for
  load tests of everything around speech recognition.

Run: ``python -m plugin.devservers.assemblyai --port 8765`` (see ``--help``). In tests:
``with AssemblyAIDevServer(api_key="k") as server: server.base_url, server.streaming_host``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http
import json
import logging
import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 500 * 1024 * 1024
SPEAKER_LABELS = ("A", "B", "C", "D")


# Backends --------------------------------------------------------------------------------------
class StreamSession(Protocol):
    """One live session: audio in (16-bit PCM at the session rate), Turn messages out."""

    def feed(self, pcm16: bytes) -> list[dict[str, Any]]: ...

    def force_endpoint(self) -> list[dict[str, Any]]: ...

    def finish(self) -> list[dict[str, Any]]: ...


class Backend(Protocol):
    def transcribe(self, audio_path: Path, request: dict[str, Any]) -> dict[str, Any]:
        """Fields of a completed transcript; raise ``ValueError`` for audio it cannot use."""
        ...

    def open_session(self, sample_rate: int, format_turns: bool) -> StreamSession: ...


def word_json(text: str, start: int, end: int, confidence: float = 0.95, **extra: Any
              ) -> dict[str, Any]:
    return {"text": text, "start": int(start), "end": int(end),
            "confidence": round(float(confidence), 3), **extra}


def unformatted(text: str) -> str:
    """What Universal-Streaming sends before formatting: lowercase, no punctuation."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def spread_words(text: str, start_ms: int, end_ms: int) -> list[tuple[str, int, int]]:
    """Words of ``text`` spread evenly over [start, end] (for backends without word times)."""
    words = text.split()
    if not words:
        return []
    step = max(1, (end_ms - start_ms)) / len(words)
    return [(w, int(start_ms + i * step), int(start_ms + (i + 1) * step))
            for i, w in enumerate(words)]


@dataclass
class _TurnState:
    order: int = 0


def turn_messages(state: _TurnState, text: str, words: Sequence[tuple[str, int, int, float]],
                  *, end_of_turn: bool, format_turns: bool) -> list[dict[str, Any]]:
    """One partial, or the final Turn(s) of a turn (unformatted, then formatted)."""
    def message(transcript: str, ws: list[dict[str, Any]], formatted: bool) -> dict[str, Any]:
        return {"type": "Turn", "turn_order": state.order, "turn_is_formatted": formatted,
                "end_of_turn": end_of_turn, "transcript": transcript,
                "end_of_turn_confidence": 0.9 if end_of_turn else 0.1, "words": ws}

    if not end_of_turn:
        ws = [word_json(unformatted(w) or w, s, e, c, word_is_final=False) for w, s, e, c in words]
        return [message(unformatted(text), ws, False)]
    raw_ws = [word_json(unformatted(w) or w, s, e, c, word_is_final=True) for w, s, e, c in words]
    out = [message(unformatted(text), raw_ws, False)]
    if format_turns:
        fmt_ws = [word_json(w, s, e, c, word_is_final=True) for w, s, e, c in words]
        out.append(message(text, fmt_ws, True))
    state.order += 1
    return out


class WhisperBackend:
    """Real transcription with the local Whisper engine (``plugin.speech``)."""

    def __init__(self, model: str = "", threads: int = 2) -> None:
        from plugin.speech.engine import WhisperEngine

        self.engine = WhisperEngine.shared(model, threads)

    def transcribe(self, audio_path: Path, request: dict[str, Any]) -> dict[str, Any]:
        from plugin.providers.errors import ProviderInputError
        from plugin.speech.audio import load_audio
        from plugin.speech.turns import mono_turns, split_at_pauses
        from plugin.speech.voices import pitch_turns

        try:
            audio = load_audio(audio_path)
        except ProviderInputError as exc:
            raise ValueError(
                "Transcoding failed. File does not appear to contain audio. "
                f"({exc.message})") from exc
        multichannel = bool(request.get("multichannel"))
        channels = audio.channels if multichannel else (_mix(audio.channels),)
        words_out: list[dict[str, Any]] = []
        utterances: list[dict[str, Any]] = []
        for index, channel in enumerate(channels):
            words = self.engine.transcribe_words(channel)
            if multichannel:
                tag = str(index + 1)
                for w in words:
                    words_out.append(word_json(w.text, w.start_ms, w.end_ms, w.confidence,
                                               speaker=tag, channel=tag))
                for group in split_at_pauses(words, 1200):
                    utterances.append(_utterance(
                        [(w.text, w.start_ms, w.end_ms, w.confidence) for w in group],
                        speaker=tag, channel=tag))
            elif request.get("speaker_labels"):
                for turn in pitch_turns(channel, words) or mono_turns(words):
                    label = SPEAKER_LABELS[0 if turn.speaker == "rep" else 1]
                    items = [(w.text, w.start_ms, w.end_ms, w.confidence) for w in turn.words]
                    words_out += [word_json(*i, speaker=label) for i in items]
                    utterances.append(_utterance(items, speaker=label))
            else:
                words_out += [word_json(w.text, w.start_ms, w.end_ms, w.confidence) for w in words]
        words_out.sort(key=lambda w: w["start"])
        utterances.sort(key=lambda u: u["start"])
        return _completed(words_out, utterances if utterances else None, audio.duration_s,
                          request)

    def open_session(self, sample_rate: int, format_turns: bool) -> StreamSession:
        return _WhisperSession(self.engine, sample_rate, format_turns)


class _WhisperSession:
    def __init__(self, engine: Any, sample_rate: int, format_turns: bool) -> None:
        from plugin.speech.streaming import LocalWhisperStream

        self.stream = LocalWhisperStream(engine, sample_rate)
        self.format_turns = format_turns
        self.state = _TurnState()

    def _messages(self, events: list[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for e in events:
            if e.kind == "partial":
                words = [(w, s, t, 0.8) for w, s, t in spread_words(e.text, e.start_ms, e.end_ms)]
                out += turn_messages(self.state, e.text, words, end_of_turn=False,
                                     format_turns=self.format_turns)
            else:
                words = [(w.text, w.start_ms, w.end_ms, w.confidence) for w in e.words]
                out += turn_messages(self.state, e.text, words, end_of_turn=True,
                                     format_turns=self.format_turns)
        return out

    def feed(self, pcm16: bytes) -> list[dict[str, Any]]:
        return self._messages(self.stream.push(pcm16))

    def force_endpoint(self) -> list[dict[str, Any]]:
        return self._messages(self.stream.force_endpoint())

    def finish(self) -> list[dict[str, Any]]:
        return self._messages(self.stream.finish())


@dataclass(frozen=True)
class ScriptTurn:
    speaker: str
    text: str
    start_ms: int
    end_ms: int


def load_script(source: Path | str | dict[str, Any] | list[Any]) -> list[ScriptTurn]:
    """Demo-call script JSON (``{"turns": [{speaker, text, start_ms, end_ms}]}``) → turns."""
    data: Any = source
    if isinstance(source, (str, Path)):
        data = json.loads(Path(source).read_text())
    items = data["turns"] if isinstance(data, dict) else data
    turns = []
    for item in items:
        start = int(item.get("start_ms", float(item.get("start", 0)) * 1000))
        end = int(item.get("end_ms", float(item.get("end", 0)) * 1000)) or start + 400 * len(
            str(item["text"]).split())
        turns.append(ScriptTurn(str(item["speaker"]), str(item["text"]), start, end))
    return sorted(turns, key=lambda t: t.start_ms)


class ScriptBackend:
    """Replays scripted turns on the audio clock (see the module docstring)."""

    def __init__(self, turns: Sequence[ScriptTurn], *, endpoint_ms: int = 300,
                 partial_interval_ms: int = 500, voice_gate: bool = True,
                 processing_delay_s: float = 0.0) -> None:
        self.turns = list(turns)
        self.endpoint_ms = endpoint_ms
        self.partial_interval_ms = partial_interval_ms
        self.voice_gate = voice_gate
        self.processing_delay_s = processing_delay_s

    def transcribe(self, audio_path: Path, request: dict[str, Any]) -> dict[str, Any]:
        time.sleep(self.processing_delay_s)
        speakers: dict[str, str] = {}
        words_out: list[dict[str, Any]] = []
        utterances: list[dict[str, Any]] = []
        for t in self.turns:
            if request.get("multichannel"):
                tag = "1" if t.speaker == "rep" else "2"
                extra: dict[str, Any] = {"speaker": tag, "channel": tag}
            else:
                label = speakers.setdefault(t.speaker, SPEAKER_LABELS[len(speakers) % 4])
                extra = {"speaker": label} if request.get("speaker_labels") else {}
            items = [(w, s, e, 0.95) for w, s, e in spread_words(t.text, t.start_ms, t.end_ms)]
            words_out += [word_json(*i, **extra) for i in items]
            if extra:
                utterances.append(_utterance(items, **extra))
        duration = max((t.end_ms for t in self.turns), default=0) / 1000
        return _completed(words_out, utterances or None, duration, request)

    def open_session(self, sample_rate: int, format_turns: bool) -> StreamSession:
        return _ScriptSession(self, sample_rate, format_turns)


class _ScriptSession:
    FRAME_MS = 20

    def __init__(self, backend: ScriptBackend, sample_rate: int, format_turns: bool) -> None:
        self.backend = backend
        self.sample_rate = sample_rate
        self.format_turns = format_turns
        self.state = _TurnState()
        self.clock_ms = 0.0
        self.pending = list(backend.turns)
        self.voiced_ms: dict[int, float] = {}
        self.last_partial_ms: dict[int, int] = {}
        self.carry = b""

    def feed(self, pcm16: bytes) -> list[dict[str, Any]]:
        data = self.carry + pcm16
        frame_bytes = self.sample_rate * 2 * self.FRAME_MS // 1000
        n = len(data) // frame_bytes
        self.carry = data[n * frame_bytes:]
        out: list[dict[str, Any]] = []
        if n:
            frames = np.frombuffer(data[: n * frame_bytes], dtype="<i2").astype(np.float32)
            rms = np.sqrt(np.mean((frames.reshape(n, -1) / 32768.0) ** 2, axis=1)) + 1e-9
            for level in 20 * np.log10(rms):
                self.clock_ms += self.FRAME_MS
                if level > -45:
                    for t in self.pending:
                        if t.start_ms > self.clock_ms:
                            break
                        if self.clock_ms <= t.end_ms:
                            self.voiced_ms[id(t)] = self.voiced_ms.get(id(t), 0) + self.FRAME_MS
            out += self._emit(final_all=False)
        return out

    def _voiced(self, t: ScriptTurn) -> bool:
        if not self.backend.voice_gate:
            return True
        return self.voiced_ms.get(id(t), 0) >= 0.3 * max(1, t.end_ms - t.start_ms)

    def _emit(self, *, final_all: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        keep: list[ScriptTurn] = []
        for t in self.pending:
            words = [(w, s, e, 0.95) for w, s, e in spread_words(t.text, t.start_ms, t.end_ms)]
            if final_all or self.clock_ms >= t.end_ms + self.backend.endpoint_ms:
                heard_any = self.voiced_ms.get(id(t), 0) > 0  # cut short: any voice will do
                if self._voiced(t) or (final_all and heard_any):
                    out += turn_messages(self.state, t.text, words, end_of_turn=True,
                                         format_turns=self.format_turns)
                continue
            keep.append(t)
            if t.start_ms <= self.clock_ms:
                last = self.last_partial_ms.get(id(t), t.start_ms)
                gated = (not self.backend.voice_gate) or self.voiced_ms.get(id(t), 0) > 0
                if gated and self.clock_ms - last >= self.backend.partial_interval_ms:
                    self.last_partial_ms[id(t)] = int(self.clock_ms)
                    heard = [w for w in words if w[1] <= self.clock_ms]
                    if heard:
                        out += turn_messages(self.state, " ".join(w[0] for w in heard), heard,
                                             end_of_turn=False, format_turns=self.format_turns)
        self.pending = keep
        return out

    def force_endpoint(self) -> list[dict[str, Any]]:
        """End the turns already under way now (their text as scripted)."""
        started = [t for t in self.pending if t.start_ms < self.clock_ms]
        later = [t for t in self.pending if t.start_ms >= self.clock_ms]
        self.pending = started
        out = self._emit(final_all=True)
        self.pending = later
        return out

    def finish(self) -> list[dict[str, Any]]:
        self.pending = [t for t in self.pending if t.start_ms < self.clock_ms]
        return self._emit(final_all=True)


def _mix(channels: Sequence[np.ndarray]) -> np.ndarray:
    if len(channels) == 1:
        return channels[0]
    return np.mean(np.stack(channels), axis=0).astype(np.float32)


def _utterance(items: Sequence[tuple[str, int, int, float]], **extra: Any) -> dict[str, Any]:
    return {"text": " ".join(i[0] for i in items), "start": int(items[0][1]),
            "end": int(max(i[2] for i in items)),
            "confidence": round(float(np.mean([i[3] for i in items])), 3),
            "words": [word_json(*i, **extra) for i in items], **extra}


def _completed(words: list[dict[str, Any]], utterances: list[dict[str, Any]] | None,
               duration_s: float, request: dict[str, Any]) -> dict[str, Any]:
    text = " ".join(w["text"] for w in words)
    confidence = round(float(np.mean([w["confidence"] for w in words])), 3) if words else 0.0
    return {"text": text, "words": words, "utterances": utterances,
            "audio_duration": int(round(duration_s)), "confidence": confidence,
            "speaker_labels": request.get("speaker_labels"),
            "multichannel": request.get("multichannel"),
            "audio_channels": 2 if request.get("multichannel") else None}


# μ-law (G.711) for encoding=pcm_mulaw -----------------------------------------------------------
def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = ((mantissa << 3) + 0x84) << exponent
    sample = magnitude - 0x84
    return np.where(sign != 0, -sample, sample).astype("<i2")


MULAW_TO_PCM16 = _mulaw_table()


# The server ------------------------------------------------------------------------------------
@dataclass
class _Job:
    id: str
    request: dict[str, Any]
    status: str = "queued"
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created: float = field(default_factory=time.time)


class AssemblyAIDevServer:
    """REST + streaming server; ``start()`` runs both in daemon threads (ports 0 = any free)."""

    def __init__(self, *, api_key: str = "devkey", backend: Backend | None = None,
                 host: str = "127.0.0.1", port: int = 0, ws_port: int = 0,
                 queued_s: float = 0.05, workers: int = 1,
                 max_session_s: float = 3 * 3600) -> None:
        self.api_key = api_key
        self.backend: Backend = backend if backend is not None else WhisperBackend()
        self.host = host
        self.queued_s = queued_s
        self.max_session_s = max_session_s
        self._jobs: dict[str, _Job] = {}
        self._uploads: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aai-dev-job")
        self._tmp = tempfile.TemporaryDirectory(prefix="aai-dev-")
        self._http = ThreadingHTTPServer((host, port), self._handler_class())
        self._http.daemon_threads = True
        # Streaming sessions run on one asyncio loop (a thread per session would cost more
        # than the transcription itself once a benchmark opens hundreds of them).
        self._ws_sock = socket.create_server((host, ws_port))
        self._ws_loop = asyncio.new_event_loop()
        self._ws: Server | None = None
        self._threads: list[threading.Thread] = []
        self.sessions_opened = 0

    # Lifecycle -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def ws_port(self) -> int:
        return int(self._ws_sock.getsockname()[1])

    @property
    def base_url(self) -> str:
        """For ``aai.settings.base_url`` / ``SALESCOACH_ASSEMBLYAI_BASE_URL``."""
        return f"http://{self.host}:{self.port}"

    @property
    def streaming_host(self) -> str:
        """For ``api_host`` / ``SALESCOACH_ASSEMBLYAI_STREAMING_HOST``."""
        return f"ws://{self.host}:{self.ws_port}"

    def start(self) -> AssemblyAIDevServer:
        self._ws = self._ws_loop.run_until_complete(self._serve_ws())
        for target, name in ((self._http.serve_forever, "aai-dev-http"),
                             (self._ws_loop.run_forever, "aai-dev-ws")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._close_ws(self._ws), self._ws_loop
                                                 ).result(timeout=10)
            self._ws_loop.call_soon_threadsafe(self._ws_loop.stop)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for thread in self._threads:
            thread.join(timeout=5)
        self._tmp.cleanup()

    def __enter__(self) -> AssemblyAIDevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # REST ------------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "AssemblyAI-dev/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("%s " + format, self.address_string(), *args)

            def do_GET(self) -> None:
                server._route(self, "GET")

            def do_POST(self) -> None:
                server._route(self, "POST")

            def do_DELETE(self) -> None:
                server._route(self, "DELETE")

        return Handler

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any,
              content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _read_body(self, h: BaseHTTPRequestHandler) -> bytes:
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            total = 0
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    h.rfile.readline()
                    return b"".join(parts)
                total += size
                if total > MAX_UPLOAD_BYTES:
                    raise ValueError("upload too large")
                parts.append(h.rfile.read(size))
                h.rfile.readline()
        length = int(h.headers.get("Content-Length") or 0)
        if length > MAX_UPLOAD_BYTES:
            raise ValueError("upload too large")
        return h.rfile.read(length) if length else b""

    def _route(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(h.path).path.rstrip("/")
        try:
            body = self._read_body(h) if method == "POST" else b""
        except ValueError as exc:
            self._send(h, 413, {"error": str(exc)})
            return
        if path.startswith("/v2/files/") and method == "GET":
            self._serve_upload(h, path.rsplit("/", 1)[-1])
            return
        if h.headers.get("authorization") != self.api_key:
            self._send(h, 401, {"error": "Authentication error, API token missing/invalid"})
            return
        if path == "/v2/upload" and method == "POST":
            self._upload(h, body)
        elif path == "/v2/transcript" and method == "POST":
            self._create(h, body)
        elif path.startswith("/v2/transcript/") and path.count("/") == 3:
            transcript_id = path.rsplit("/", 1)[-1]
            if method == "GET":
                self._get(h, transcript_id)
            elif method == "DELETE":
                self._delete(h, transcript_id)
            else:
                self._send(h, 405, {"error": "method not allowed"})
        else:
            self._send(h, 404, {"error": f"Not found: {method} {path}"})

    def _upload(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        if not body:
            self._send(h, 400, {"error": "Upload failed, please try again. The file is empty."})
            return
        upload_id = uuid.uuid4().hex
        target = Path(self._tmp.name) / upload_id
        target.write_bytes(body)
        with self._lock:
            self._uploads[upload_id] = target
        self._send(h, 200, {"upload_url": f"{self.base_url}/v2/files/{upload_id}"})

    def _serve_upload(self, h: BaseHTTPRequestHandler, upload_id: str) -> None:
        with self._lock:
            target = self._uploads.get(upload_id)
        if target is None:
            self._send(h, 404, {"error": "Not found"})
            return
        self._send(h, 200, target.read_bytes(), "application/octet-stream")

    def _create(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError:
            self._send(h, 400, {"error": "Invalid JSON in request body"})
            return
        if not isinstance(request, dict) or not isinstance(request.get("audio_url"), str):
            self._send(h, 400, {"error": "audio_url is required"})
            return
        if request.get("speaker_labels") and request.get("multichannel"):
            self._send(h, 400, {"error": "Speaker labels cannot be used with multichannel."})
            return
        job = _Job(id=str(uuid.uuid4()), request=request)
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._process, job)
        self._send(h, 200, self._transcript_json(job))

    def _get(self, h: BaseHTTPRequestHandler, transcript_id: str) -> None:
        with self._lock:
            job = self._jobs.get(transcript_id)
        if job is None:
            self._send(h, 404, {"error": "Transcript not found"})
            return
        self._send(h, 200, self._transcript_json(job))

    def _delete(self, h: BaseHTTPRequestHandler, transcript_id: str) -> None:
        with self._lock:
            job = self._jobs.get(transcript_id)
            if job is not None:
                job.result = {}
        if job is None:
            self._send(h, 404, {"error": "Transcript not found"})
            return
        self._send(h, 200, self._transcript_json(job))

    def _transcript_json(self, job: _Job) -> dict[str, Any]:
        out: dict[str, Any] = {"id": job.id, "status": job.status, "audio_url":
                               job.request["audio_url"], "language_code": "en_us",
                               "speech_model": None, "error": job.error,
                               "speaker_labels": job.request.get("speaker_labels"),
                               "multichannel": job.request.get("multichannel"),
                               "text": None, "words": None, "utterances": None}
        if job.status == "completed":
            out.update(job.result)
        return out

    def _process(self, job: _Job) -> None:
        time.sleep(self.queued_s)
        job.status = "processing"
        try:
            audio = self._fetch(job.request["audio_url"])
            job.result = self.backend.transcribe(audio, job.request)
            job.status = "completed"
        except ValueError as exc:
            job.error = str(exc)
            job.status = "error"
        except Exception as exc:  # a backend crash is a failed job, as on the real service
            log.exception("transcription job %s failed", job.id)
            job.error = f"Internal server error: {exc}"
            job.status = "error"

    def _fetch(self, audio_url: str) -> Path:
        prefix = f"{self.base_url}/v2/files/"
        if audio_url.startswith(prefix):
            with self._lock:
                target = self._uploads.get(audio_url[len(prefix):])
            if target is not None:
                return target
        raise ValueError(f"Download error, unable to download {audio_url}. Please make sure "
                         "the file exists and is accessible from the internet.")

    # Streaming -------------------------------------------------------------------------------
    async def _serve_ws(self) -> Server:
        return await serve(self._ws_session, sock=self._ws_sock,
                           process_request=self._ws_process_request,
                           max_size=2**22, compression=None)

    @staticmethod
    async def _close_ws(server: Server) -> None:
        server.close()
        await server.wait_closed()

    def _ws_process_request(self, connection: ServerConnection, request: Request
                            ) -> Response | None:
        url = urlsplit(request.path)
        if url.path.rstrip("/") != "/v3/ws":
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not found\n")
        token = parse_qs(url.query).get("token", [""])[0]
        if request.headers.get("Authorization") != self.api_key and token != self.api_key:
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        return None

    async def _ws_session(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = {k: v[-1] for k, v in parse_qs(urlsplit(ws.request.path).query).items()}
        encoding = query.get("encoding", "pcm_s16le")
        try:
            sample_rate = int(query.get("sample_rate", "0"))
        except ValueError:
            sample_rate = 0
        if encoding not in ("pcm_s16le", "pcm_mulaw"):
            await ws.close(3006, f"Input validation error: unsupported encoding {encoding}")
            return
        if not 8000 <= sample_rate <= 48000:
            await ws.close(4000, "Sample rate must be a positive integer")
            return
        format_turns = query.get("format_turns", "false").lower() == "true"
        session = self.backend.open_session(sample_rate, format_turns)
        self.sessions_opened += 1
        session_id = str(uuid.uuid4())
        started = time.time()
        await ws.send(json.dumps({"type": "Begin", "id": session_id,
                            "expires_at": int(started + self.max_session_s)}))
        audio_ms = 0.0
        bytes_per_ms = sample_rate * (2 if encoding == "pcm_s16le" else 1) / 1000
        try:
            async for message in ws:
                if time.time() - started > self.max_session_s:
                    # As the service does at its 3 h limit (tests set a short one).
                    await ws.close(3008, "Session Expired: Maximum session duration exceeded")
                    return
                if isinstance(message, bytes):
                    chunk_ms = len(message) / bytes_per_ms
                    if not 50 <= chunk_ms <= 1000:
                        await ws.close(3007, "Input duration violation: audio chunks must be "
                                 f"between 50 and 1000 ms, got {chunk_ms:.0f} ms")
                        return
                    audio_ms += chunk_ms
                    pcm = (MULAW_TO_PCM16[np.frombuffer(message, dtype=np.uint8)].tobytes()
                           if encoding == "pcm_mulaw" else message)
                    await self._send_all(ws, await self._run(session.feed, pcm))
                    continue
                try:
                    control = json.loads(message)
                    kind = control["type"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    await ws.close(4100, "Endpoint received invalid JSON")
                    return
                if kind == "Terminate":
                    await self._send_all(ws, await self._run(session.finish))
                    await ws.send(json.dumps({
                        "type": "Termination",
                        "audio_duration_seconds": int(audio_ms // 1000),
                        "session_duration_seconds": int(time.time() - started)}))
                    await ws.close(1000)
                    return
                if kind == "ForceEndpoint":
                    await self._send_all(ws, await self._run(session.force_endpoint))
                elif kind not in ("KeepAlive", "UpdateConfiguration"):
                    await ws.close(4101, "Endpoint received a message with an invalid schema")
                    return
        except ConnectionClosed:
            return

    async def _run(self, fn: Any, *args: Any) -> list[dict[str, Any]]:
        """A session step: at once for the timed script, on a thread for Whisper (it decodes)."""
        if isinstance(self.backend, ScriptBackend):
            result: list[dict[str, Any]] = fn(*args)
            return result
        return list(await asyncio.to_thread(fn, *args))

    @staticmethod
    async def _send_all(ws: ServerConnection, messages: list[dict[str, Any]]) -> None:
        for m in messages:
            await ws.send(json.dumps(m))


# CLI -------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m plugin.devservers.assemblyai",
        description="Local server speaking AssemblyAI's REST (v2) and Universal-Streaming (v3) "
                    "protocols, backed by local Whisper or a timed call script.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8765,
                        help="REST port (default %(default)s; 0 = any free port)")
    parser.add_argument("--ws-port", type=int, default=None,
                        help="streaming WebSocket port (default: --port + 1; 0 = any)")
    parser.add_argument("--api-key", default="devkey",
                        help="the key clients must send (default %(default)s)")
    parser.add_argument("--backend", choices=("whisper", "script"), default="whisper",
                        help="whisper: real local transcription; script: replay --script turns")
    parser.add_argument("--script", type=Path, action="append", default=[],
                        help="call script JSON for --backend script (repeatable; turns merged)")
    parser.add_argument("--endpoint-ms", type=int, default=300,
                        help="script backend: delay of a final after a turn's end (ms)")
    parser.add_argument("--model", default="",
                        help="Whisper model folder or name (default: bundled tiny.en)")
    parser.add_argument("--threads", type=int, default=2, help="Whisper CPU threads")
    parser.add_argument("--workers", type=int, default=1, help="parallel batch jobs")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    backend: Backend
    if args.backend == "script":
        if not args.script:
            parser.error("--backend script needs at least one --script FILE")
        turns = [t for path in args.script for t in load_script(path)]
        backend = ScriptBackend(sorted(turns, key=lambda t: t.start_ms),
                                endpoint_ms=args.endpoint_ms)
    else:
        backend = WhisperBackend(args.model, args.threads)
        backend.engine.warm_up()
    ws_port = args.ws_port if args.ws_port is not None else (args.port + 1 if args.port else 0)
    server = AssemblyAIDevServer(api_key=args.api_key, backend=backend, host=args.host,
                                 port=args.port, ws_port=ws_port, workers=args.workers)
    server.start()
    print(f"AssemblyAI dev server ({args.backend} backend)")
    print(f"  SALESCOACH_ASSEMBLYAI_API_KEY={args.api_key}")
    print(f"  SALESCOACH_ASSEMBLYAI_BASE_URL={server.base_url}")
    print(f"  SALESCOACH_ASSEMBLYAI_STREAMING_HOST={server.streaming_host}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
