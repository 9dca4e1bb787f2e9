"""Audio sources: each turns one transport's messages into pipeline frames.

A source is a small parser (pipecat-style): transport message in, frames out. The WebSocket
handlers, the replay command and any future transport feed the same ``LiveCall`` with the
same frames, so a Zoom/Meet/Teams bot that has two PCM tracks only needs a source (or the
panel protocol) to be coached.

Frames: ``StartFrame`` (once), ``AudioFrame`` (16 kHz PCM16 mono of one channel),
``MarkFrame``, ``StopFrame``. Bad input raises ``SourceError(code, message, fatal)``.
"""

from __future__ import annotations

import base64
import binascii
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from plugin.live.audio import SAMPLE_RATE, Upsampler2x, read_audio_channels, ulaw_to_pcm16
from plugin.privacy.consent import normalise as normalise_consent
from plugin.safejson import INT_MAX, UnsafeInput
from plugin.safejson import loads as safe_loads

CHANNEL_ROLES = ("rep", "customer", "mixed")
MAX_FRAME_MS = 1000  # one binary frame carries at most 1 s of audio
MAX_FRAME_BYTES = 1 + SAMPLE_RATE * 2 * MAX_FRAME_MS // 1000  # tag byte + 32,000 bytes
MAX_TEXT_BYTES = 16 * 1024
CALL_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SourceError(Exception):
    """Bad input from a client. ``fatal`` errors end the connection (the call is kept)."""

    def __init__(self, code: str, message: str, *, fatal: bool = False, close_code: int = 1008):
        super().__init__(message)
        self.code, self.message, self.fatal, self.close_code = code, message, fatal, close_code

    def to_event(self) -> dict[str, Any]:
        return {"type": "error", "code": self.code, "message": self.message, "fatal": self.fatal}


@dataclass(frozen=True, slots=True)
class StartFrame:
    """A call starts (or resumes, when ``call_id`` names a stored call)."""

    channels: tuple[str, ...]
    call_id: str | None = None
    record_id: str = ""
    record_type: str = ""
    last_seq: int = 0  # resume: the last turn seq the client has
    last_nudge_id: int = 0  # resume: the last nudge id the client has
    source: str = "panel"
    title: str = ""
    token: str = ""  # transports that authenticate in-band (Twilio customParameters)
    consent: str = ""  # recording consent the client states (plugin.privacy.consent)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AudioFrame:
    channel: int  # index into StartFrame.channels
    pcm16: bytes  # little-endian PCM16 mono at 16 kHz


@dataclass(frozen=True, slots=True)
class MarkFrame:
    name: str


@dataclass(frozen=True, slots=True)
class StopFrame:
    reason: str = "stop"


@dataclass(frozen=True, slots=True)
class ControlFrame:
    """Anything else a client may say (``ping``, ``watch``), passed to the handler as is."""

    kind: str
    data: dict[str, Any]


Frame = StartFrame | AudioFrame | MarkFrame | StopFrame | ControlFrame


class AudioSource(ABC):
    """One transport's wire format → frames. Stateful (knows whether it has started)."""

    name: str = "source"

    def __init__(self) -> None:
        self.started: StartFrame | None = None

    @abstractmethod
    def parse_text(self, text: str) -> list[Frame]:
        """Frames for one text message; raises SourceError on bad input."""

    def parse_binary(self, data: bytes) -> list[Frame]:
        raise SourceError("binary_not_supported", f"{self.name} sends no binary messages",
                          fatal=True, close_code=1003)


def _json_object(text: str) -> dict[str, Any]:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise SourceError("message_too_large",
                          f"text messages are limited to {MAX_TEXT_BYTES} bytes")
    try:
        msg = safe_loads(text)
    except UnsafeInput as exc:
        raise SourceError("bad_json", exc.message) from None
    if not isinstance(msg, dict):
        raise SourceError("bad_message", "message must be a JSON object")
    return msg


def _int_field(msg: dict[str, Any], key: str, default: int = 0) -> int:
    value = msg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT_MAX:
        raise SourceError("bad_message", f"'{key}' must be a non-negative 64-bit integer")
    return value


# Every text message type of the panel protocol (binary frames carry audio). The walls test
# (tests/core/test_walls.py) checks each one against another rep's call.
PANEL_MESSAGE_TYPES = ("auth", "start", "stop", "ping", "watch", "ack")


class PanelSource(AudioSource):
    """The coach panel's protocol (docs/live.md): JSON control + tagged binary PCM16.

    Binary frame = 1 byte channel index + PCM16 LE mono samples at 16 kHz, at most
    ``MAX_FRAME_MS`` of audio. Text: ``auth`` (first), ``start``, ``stop``, ``ping``, ``watch``.
    """

    name = "panel"

    def parse_text(self, text: str) -> list[Frame]:
        msg = _json_object(text)
        kind = msg.get("type")
        if kind == "start":
            return [self._start(msg)]
        if kind == "stop":
            if self.started is None:
                raise SourceError("not_started", "stop before start")
            return [StopFrame("stop")]
        if kind in ("auth", "ping", "watch", "ack"):
            return [ControlFrame(str(kind), msg)]
        raise SourceError("unknown_type", f"unknown message type {kind!r}")

    def _start(self, msg: dict[str, Any]) -> StartFrame:
        if self.started is not None:
            raise SourceError("already_started", "this connection already carries a call")
        rate = msg.get("sample_rate", SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            raise SourceError("bad_sample_rate",
                              f"sample_rate must be {SAMPLE_RATE} (PCM16 mono); got {rate!r}")
        channels = msg.get("channels", ["rep", "customer"])
        if (not isinstance(channels, list) or not 1 <= len(channels) <= 2
                or any(c not in CHANNEL_ROLES for c in channels)
                or len(set(channels)) != len(channels)
                or ("mixed" in channels and len(channels) > 1)):
            raise SourceError("bad_channels", "channels must be ['rep','customer'], ['rep'], "
                              "['customer'] or ['mixed']")
        call_id = msg.get("call_id")
        if call_id is not None and (not isinstance(call_id, str) or not CALL_ID_RE.match(call_id)):
            raise SourceError("bad_call_id", "call_id must be 1-64 letters, digits, '-' or '_'")
        record_id = msg.get("record_id") or ""
        if not isinstance(record_id, str) or len(record_id) > 64:
            raise SourceError("bad_message", "record_id must be a string of at most 64 characters")
        record_type = msg.get("record_type") or ""
        title = msg.get("title") or ""
        if not isinstance(record_type, str) or not isinstance(title, str):
            raise SourceError("bad_message", "record_type and title must be strings")
        token = msg.get("token") or ""
        if not isinstance(token, str):
            raise SourceError("bad_message", "token must be a string")
        self.started = StartFrame(
            channels=tuple(channels), call_id=call_id, record_id=record_id,
            record_type=record_type[:32], title=title[:255],
            last_seq=_int_field(msg, "last_seq"), last_nudge_id=_int_field(msg, "last_nudge_id"),
            consent=normalise_consent(msg.get("consent")), token=token)
        return self.started

    def parse_binary(self, data: bytes) -> list[Frame]:
        if self.started is None:
            raise SourceError("not_started", "audio before start: send {\"type\":\"start\"} first")
        if len(data) > MAX_FRAME_BYTES:
            raise SourceError("frame_too_large",
                              f"binary frames carry at most {MAX_FRAME_MS} ms of audio "
                              f"({MAX_FRAME_BYTES} bytes); got {len(data)}")
        if len(data) < 3 or (len(data) - 1) % 2:
            raise SourceError("bad_frame", "binary frame = 1 channel byte + PCM16 samples "
                              "(an even number of bytes)")
        channel = data[0]
        if channel >= len(self.started.channels):
            raise SourceError("bad_channel", f"channel index {channel} not in "
                              f"0..{len(self.started.channels) - 1}")
        return [AudioFrame(channel, bytes(data[1:]))]


TokenCheck = Callable[[str], Any]


class TwilioSource(AudioSource):
    """Twilio Media Streams: JSON ``connected``/``start``/``media``/``mark``/``stop``.

    Tracks: ``inbound`` (the far end, i.e. the customer) → channel 0 'customer',
    ``outbound`` (our side, the rep) → channel 1 'rep'. μ-law 8 kHz is decoded and
    upsampled to 16 kHz band-limited (``Upsampler2x``, state kept per track). The session
    token travels in ``customParameters.token``.
    """

    name = "twilio"
    TRACKS = {"inbound": 0, "outbound": 1}

    def __init__(self) -> None:
        super().__init__()
        self.stream_sid = ""
        self._upsamplers = {track: Upsampler2x() for track in self.TRACKS}  # 8 → 16 kHz

    def parse_text(self, text: str) -> list[Frame]:
        msg = _json_object(text)
        event = msg.get("event")
        if event == "connected":
            return []
        if event == "start":
            return [self._start(msg)]
        if self.started is None:
            raise SourceError("not_started", f"'{event}' before 'start'", fatal=True)
        if event == "media":
            return self._media(msg)
        if event == "mark":
            mark = msg.get("mark")
            return [MarkFrame(str(mark.get("name", "")) if isinstance(mark, dict) else "")]
        if event == "stop":
            return [StopFrame("twilio stop")]
        if event == "dtmf":
            return []
        raise SourceError("unknown_event", f"unknown Twilio event {event!r}", fatal=True)

    def _start(self, msg: dict[str, Any]) -> StartFrame:
        if self.started is not None:
            raise SourceError("already_started", "second 'start' on one stream", fatal=True)
        start = msg.get("start")
        if not isinstance(start, dict):
            raise SourceError("bad_message", "'start' event without a start object", fatal=True)
        fmt = start.get("mediaFormat") or {}
        if (not isinstance(fmt, dict) or fmt.get("encoding") != "audio/x-mulaw"
                or fmt.get("sampleRate") != 8000 or fmt.get("channels", 1) != 1):
            raise SourceError("bad_media_format", "expected mediaFormat audio/x-mulaw, 8000 Hz, "
                              f"1 channel; got {fmt!r}", fatal=True, close_code=1003)
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            raise SourceError("bad_message", "customParameters must be an object", fatal=True)
        self.stream_sid = str(start.get("streamSid") or msg.get("streamSid") or "")
        self.started = StartFrame(
            channels=("customer", "rep"), call_id=None,
            record_id=str(params.get("record_id", ""))[:64],
            record_type=str(params.get("record_type", ""))[:32],
            source="twilio", title=str(params.get("title", ""))[:255],
            token=str(params.get("token", "")),
            consent=normalise_consent(params.get("consent")),
            meta={"streamSid": self.stream_sid, "callSid": str(start.get("callSid", "")),
                  "tracks": start.get("tracks", [])})
        return self.started

    def _media(self, msg: dict[str, Any]) -> list[Frame]:
        media = msg.get("media")
        if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
            raise SourceError("bad_message", "'media' event without media.payload", fatal=True)
        track = media.get("track", "inbound")
        if track not in self.TRACKS:
            raise SourceError("bad_track", f"unknown track {track!r}", fatal=True)
        payload = media["payload"]
        if len(payload) > 4 * MAX_FRAME_BYTES:
            raise SourceError("frame_too_large", "media payload above 1 s of audio", fatal=True)
        try:
            ulaw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise SourceError("bad_payload", "media.payload is not base64", fatal=True,
                              close_code=1007) from None
        pcm = self._upsamplers[track].process(ulaw_to_pcm16(ulaw))
        return [AudioFrame(self.TRACKS[track], pcm.tobytes())]


class FileSource:
    """A recording of any format (``read_audio_channels``) as frames: stereo = (rep,
    customer), mono = one 'mixed' channel. Raises ``ProviderInputError`` naming a format it
    cannot read."""

    def __init__(self, path: Path, chunk_ms: int = 100) -> None:
        self.path = path
        self.chunk_ms = chunk_ms
        self.channels_pcm, self.original_rate = read_audio_channels(path)
        self.channels: tuple[str, ...] = (("rep", "customer") if len(self.channels_pcm) == 2
                                          else ("mixed",))

    @property
    def duration_ms(self) -> int:
        return int(self.channels_pcm[0].size * 1000 // SAMPLE_RATE)

    def frames(self) -> Iterator[tuple[int, list[AudioFrame]]]:
        """(call time in ms at the end of the chunk, one frame per channel) per chunk."""
        step = SAMPLE_RATE * self.chunk_ms // 1000
        n = self.channels_pcm[0].size
        for start in range(0, n, step):
            frames = [AudioFrame(i, np.ascontiguousarray(ch[start:start + step]).tobytes())
                      for i, ch in enumerate(self.channels_pcm)]
            yield min(n, start + step) * 1000 // SAMPLE_RATE, frames


WavSource = FileSource  # the name it had when only PCM WAV was read
