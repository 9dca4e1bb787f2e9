"""Zoom Realtime Media Streams (RTMS): a meeting's per-participant audio as a live source.

Zoom's documented protocol (no SDK needed):

1. Zoom POSTs the ``meeting.rtms_started`` webhook (``verify_webhook``: header
   ``x-zm-signature`` = ``v0=`` + hex HMAC-SHA256 of ``v0:<x-zm-request-timestamp>:<body>``
   keyed by the app's secret token; ``endpoint.url_validation`` is answered by
   ``url_validation``) with ``meeting_uuid``, ``rtms_stream_id`` and ``server_urls``.
2. Signalling WebSocket to ``server_urls``: ``SIGNALING_HAND_SHAKE_REQ`` (msg_type 1) signed
   with hex HMAC-SHA256 of ``"<client_id>,<meeting_uuid>,<rtms_stream_id>"`` keyed by the
   client secret (``signature``) → ``SIGNALING_HAND_SHAKE_RESP`` (2) with the media server URLs.
3. Media WebSocket: ``DATA_HAND_SHAKE_REQ`` (3) asking for raw L16 audio at 16 kHz, one
   stream per active speaker (``data_opt`` AUDIO_MULTI_STREAMS) → ``DATA_HAND_SHAKE_RESP`` (4);
   then ``CLIENT_READY_ACK`` (7) on the signalling socket.
4. ``MEDIA_DATA_AUDIO`` (14) packets ``{user_id, user_name, data (base64 PCM16), timestamp}``;
   ``KEEP_ALIVE_REQ`` (12) on either socket is answered with ``KEEP_ALIVE_RESP`` (13);
   ``STREAM_STATE_UPDATE`` (8) with state TERMINATED, or the signalling socket closing after
   it, ends the stream.

``RtmsClient`` runs that on asyncio and reconnects (new handshakes) when a socket drops before
the stream ended. ``ParticipantMixer`` maps participants to the call's two channels: the
rep's Zoom user → channel 0 ``rep``, everyone else mixed (summed per 20 ms packet time) →
channel 1 ``customer``, as ``AudioFrame``s for ``LiveCall.push``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plugin.live.sources import AudioFrame, Frame, SourceError, StartFrame, StopFrame

log = logging.getLogger(__name__)

SIGNALING_HAND_SHAKE_REQ, SIGNALING_HAND_SHAKE_RESP = 1, 2
DATA_HAND_SHAKE_REQ, DATA_HAND_SHAKE_RESP = 3, 4
CLIENT_READY_ACK, STREAM_STATE_UPDATE, SESSION_STATE_UPDATE = 7, 8, 9
KEEP_ALIVE_REQ, KEEP_ALIVE_RESP = 12, 13
MEDIA_DATA_AUDIO = 14
STREAM_CLOSE_REQ = 16
STATE_TERMINATED = 4  # RTMS_STREAM_STATE.TERMINATED
MEDIA_AUDIO = 1  # MEDIA_DATA_TYPE.AUDIO
AUDIO_PARAMS = {"content_type": 2, "sample_rate": 1, "channel": 1, "codec": 1,
                "data_opt": 2, "send_rate": 20}  # raw, 16 kHz, mono, L16, per speaker, 20 ms
PACKET_MS = 20


def rtms_signature(client_id: str, client_secret: str, meeting_uuid: str, stream_id: str) -> str:
    """The handshake signature: hex HMAC-SHA256 of ``client_id,meeting_uuid,stream_id``."""
    message = f"{client_id},{meeting_uuid},{stream_id}".encode()
    return hmac.new(client_secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature(secret_token: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret_token.encode(), b"v0:" + timestamp.encode() + b":" + body,
                      hashlib.sha256).hexdigest()
    return f"v0={digest}"


def verify_webhook(secret_token: str, timestamp: str, body: bytes, signature: str,
                   now: float, max_age_s: float = 300) -> bool:
    """Whether a webhook really comes from Zoom (signature, and not older than 5 minutes)."""
    try:
        age = abs(now - int(timestamp) / (1000 if len(timestamp) > 11 else 1))
    except ValueError:
        return False
    expected = webhook_signature(secret_token, timestamp, body)
    return age <= max_age_s and hmac.compare_digest(expected, signature or "")


def url_validation(secret_token: str, plain_token: str) -> dict[str, str]:
    """The answer to ``endpoint.url_validation``."""
    encrypted = hmac.new(secret_token.encode(), plain_token.encode(), hashlib.sha256).hexdigest()
    return {"plainToken": plain_token, "encryptedToken": encrypted}


@dataclass(frozen=True, slots=True)
class RtmsStream:
    """What ``meeting.rtms_started`` announces."""

    meeting_uuid: str
    stream_id: str
    server_url: str

    @classmethod
    def from_webhook(cls, event: dict[str, Any]) -> RtmsStream:
        payload = event.get("payload") if isinstance(event, dict) else None
        if event.get("event") != "meeting.rtms_started" or not isinstance(payload, dict):
            raise SourceError("bad_webhook", "not a meeting.rtms_started event")
        obj = payload.get("object", payload)
        meeting, stream, urls = (obj.get("meeting_uuid"), obj.get("rtms_stream_id"),
                                 obj.get("server_urls"))
        if not all(isinstance(v, str) and v for v in (meeting, stream, urls)):
            raise SourceError("bad_webhook", "meeting_uuid, rtms_stream_id and server_urls "
                              "are required")
        return cls(str(meeting), str(stream), str(urls).split(",")[0])


class ParticipantMixer:
    """Per-participant RTMS audio → two call channels (rep, customer), 16 kHz PCM16.

    Packets are grouped by their timestamp (one 20 ms slot); the others' packets of one
    slot are summed, so two customers speaking at once are heard at once. A slot is emitted
    once a packet ``lag_ms`` later has arrived (or at ``flush``).
    """

    def __init__(self, rep_user_id: int | str | None, rep_user_name: str = "",
                 lag_ms: int = 100) -> None:
        self.rep_user_id = None if rep_user_id is None else str(rep_user_id)
        self.rep_user_name = rep_user_name.strip().lower()
        self.lag_ms = lag_ms
        self._slots: dict[int, dict[int, np.ndarray]] = {}
        self._latest = -1
        self._next_ts = -1  # where the next slot should start (ms), once audio began
        self.participants: dict[str, str] = {}  # user id → name

    def is_rep(self, user_id: str, user_name: str) -> bool:
        if self.rep_user_id is not None:
            return user_id == self.rep_user_id
        return bool(self.rep_user_name) and user_name.strip().lower() == self.rep_user_name

    def add(self, content: dict[str, Any]) -> list[AudioFrame]:
        """One MEDIA_DATA_AUDIO content object → frames that are complete now."""
        data = content.get("data")
        if not isinstance(data, str):
            raise SourceError("bad_media", "audio packet without data")
        try:
            pcm = np.frombuffer(base64.b64decode(data, validate=True), dtype="<i2")
        except (binascii.Error, ValueError):
            raise SourceError("bad_media", "audio data is not base64 PCM16") from None
        user_id, user_name = str(content.get("user_id", "")), str(content.get("user_name", ""))
        self.participants[user_id] = user_name
        stamp = content.get("timestamp")
        ts = int(stamp) if isinstance(stamp, int | float) else self._latest + PACKET_MS
        channel = 0 if self.is_rep(user_id, user_name) else 1
        slot = self._slots.setdefault(ts, {})
        if channel in slot:
            n = max(len(slot[channel]), len(pcm))
            mixed = np.zeros(n, dtype=np.int32)
            mixed[:len(slot[channel])] += slot[channel]
            mixed[:len(pcm)] += pcm
            slot[channel] = np.clip(mixed, -32768, 32767).astype(np.int16)
        else:
            slot[channel] = pcm.astype(np.int16)
        self._latest = max(self._latest, ts)
        return self._emit(self._latest - self.lag_ms)

    def flush(self) -> list[AudioFrame]:
        return self._emit(None)

    def _emit(self, upto: int | None) -> list[AudioFrame]:
        frames: list[AudioFrame] = []
        for ts in sorted(self._slots):
            if upto is not None and ts > upto:
                break
            slot = self._slots.pop(ts)
            if self._next_ts >= 0 and ts > self._next_ts:  # nobody spoke: silence, so both
                gap = min(ts - self._next_ts, 60_000) * 16  # channels keep the call clock
                for a in range(0, gap, 16000):
                    silence = bytes(2 * min(16000, gap - a))
                    frames += [AudioFrame(0, silence), AudioFrame(1, silence)]
            if ts < self._next_ts:  # a late packet of a slot already sent: dropped
                continue
            n = max(len(p) for p in slot.values())
            for channel in (0, 1):  # both channels advance together: silence where none spoke
                pcm = slot.get(channel, np.zeros(0, dtype=np.int16))
                padded = np.zeros(n, dtype=np.int16)
                padded[:len(pcm)] = pcm
                frames.append(AudioFrame(channel, padded.tobytes()))
            self._next_ts = ts + n * 1000 // 16000
        return frames


class RtmsError(Exception):
    """The RTMS server refused us (bad signature, unknown stream): not retried."""


@dataclass
class RtmsClient:
    """Connects to one RTMS stream and hands its audio to ``on_frame`` as frames.

    ``run()`` returns when the stream ends (``StopFrame`` given to ``on_frame``); a socket that
    drops before that is reconnected (fresh handshakes) up to ``max_reconnects`` times.
    """

    stream: RtmsStream
    client_id: str
    client_secret: str
    on_frame: Callable[[Frame], None]
    mixer: ParticipantMixer = field(default_factory=lambda: ParticipantMixer(None))
    ssl_context: ssl.SSLContext | None = None
    max_reconnects: int = 5
    backoff_s: float = 0.5
    reconnects: int = 0
    _ended: bool = False
    _end_reason: str = ""  # the stream ended on signalling; ends once media drains

    def start_frame(self, **meta: Any) -> StartFrame:
        return StartFrame(channels=("rep", "customer"), source="zoom",
                          title=meta.pop("title", "Zoom meeting"),
                          meta={"meeting_uuid": self.stream.meeting_uuid,
                                "rtms_stream_id": self.stream.stream_id, **meta})

    def _signature(self) -> str:
        return rtms_signature(self.client_id, self.client_secret, self.stream.meeting_uuid,
                              self.stream.stream_id)

    async def run(self) -> None:
        attempt = 0
        while not self._ended:
            try:
                await self._session()
            except RtmsError:
                raise
            except (TimeoutError, OSError, ConnectionError) as exc:
                log.info("RTMS connection lost (%s)", exc)
            except Exception as exc:  # noqa: BLE001 - websockets' ConnectionClosed and kin
                if type(exc).__module__.startswith("websockets"):
                    log.info("RTMS socket closed (%s)", exc)
                else:
                    raise
            if self._ended:
                break
            attempt += 1
            if attempt > self.max_reconnects:
                self._end("reconnects exhausted")
                break
            self.reconnects += 1
            await asyncio.sleep(self.backoff_s * attempt)

    def _end(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        for frame in self.mixer.flush():
            self.on_frame(frame)
        self.on_frame(StopFrame(reason))

    async def _session(self) -> None:
        from websockets.asyncio.client import connect

        ssl_arg = self.ssl_context if self.stream.server_url.startswith("wss:") else None
        async with connect(self.stream.server_url, ssl=ssl_arg, open_timeout=10,
                           max_size=2 ** 22) as signalling:
            await signalling.send(json.dumps({
                "msg_type": SIGNALING_HAND_SHAKE_REQ, "protocol_version": 1,
                "meeting_uuid": self.stream.meeting_uuid,
                "rtms_stream_id": self.stream.stream_id, "sequence": 0,
                "signature": self._signature()}))
            answer = await self._expect(signalling, SIGNALING_HAND_SHAKE_RESP)
            urls = (answer.get("media_server") or {}).get("server_urls") or {}
            media_url = urls.get("audio") or urls.get("all")
            if not isinstance(media_url, str):
                raise RtmsError("the signalling handshake gave no media server URL")
            media_ssl = self.ssl_context if media_url.startswith("wss:") else None
            async with connect(media_url, ssl=media_ssl, open_timeout=10,
                               max_size=2 ** 22) as media:
                await media.send(json.dumps({
                    "msg_type": DATA_HAND_SHAKE_REQ, "protocol_version": 1,
                    "meeting_uuid": self.stream.meeting_uuid,
                    "rtms_stream_id": self.stream.stream_id, "signature": self._signature(),
                    "media_type": MEDIA_AUDIO, "payload_encryption": False,
                    "media_params": {"audio": AUDIO_PARAMS}}))
                await self._expect(media, DATA_HAND_SHAKE_RESP)
                await signalling.send(json.dumps({"msg_type": CLIENT_READY_ACK,
                                                  "rtms_stream_id": self.stream.stream_id}))
                control = asyncio.create_task(self._pump(signalling))
                data = asyncio.create_task(self._pump(media))
                await asyncio.wait({control, data}, return_when=asyncio.FIRST_COMPLETED)
                if data.done() and not control.done():
                    # the media socket closed: the stream's end may follow on signalling
                    await asyncio.wait({control}, timeout=2.0)
                elif self._end_reason and not data.done():
                    # the end came on signalling: audio still in flight on media comes first
                    await asyncio.wait({data}, timeout=2.0)
                for task in (control, data):
                    if not task.done():
                        task.cancel()
                if self._end_reason:
                    self._end(self._end_reason)
                if not self._ended:
                    for task in (control, data):
                        if task.done() and not task.cancelled():
                            task.result()  # a closed socket raises here → reconnect
                    raise ConnectionError("RTMS socket closed")

    async def _expect(self, ws: Any, msg_type: int) -> dict[str, Any]:
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            if msg.get("msg_type") == KEEP_ALIVE_REQ:
                await ws.send(json.dumps({"msg_type": KEEP_ALIVE_RESP,
                                          "timestamp": msg.get("timestamp")}))
                continue
            if msg.get("msg_type") != msg_type:
                continue
            if msg.get("status_code", 0) != 0:
                raise RtmsError(f"RTMS refused the handshake (status {msg.get('status_code')}: "
                                f"{msg.get('reason', '')})")
            return dict(msg)

    async def _pump(self, ws: Any) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            kind = msg.get("msg_type")
            if kind == KEEP_ALIVE_REQ:
                await ws.send(json.dumps({"msg_type": KEEP_ALIVE_RESP,
                                          "timestamp": msg.get("timestamp")}))
            elif kind == MEDIA_DATA_AUDIO and isinstance(msg.get("content"), dict):
                if self._ended:  # the stream's end came first on the other socket
                    log.info("RTMS audio after the stream ended: dropped")
                    continue
                for frame in self.mixer.add(msg["content"]):
                    self.on_frame(frame)
            elif kind == STREAM_STATE_UPDATE and msg.get("state") == STATE_TERMINATED:
                # ended once the other socket has delivered what it still holds
                self._end_reason = f"zoom stream ended ({msg.get('reason', 'terminated')})"
                return
        raise ConnectionError("RTMS socket closed")


def coach_zoom_stream(factory: Any, tenant_id: str, user_id: int | None, client: RtmsClient,
                      *, title: str = "Zoom meeting", record_id: str = "",
                      record_type: str = "") -> Any:
    """Start a coached live call fed by ``client`` (on the process's I/O loop); returns the
    ``LiveCall``. The call ends (flushed, stored, submitted) when the Zoom stream ends."""
    from dataclasses import replace

    from plugin.eventloop import IoLoop
    from plugin.live.pipeline import shared_pool

    start = replace(client.start_frame(title=title), record_id=record_id,
                    record_type=record_type if record_id else "")
    call = factory.new(tenant_id, user_id, start)

    def on_frame(frame: Frame) -> None:
        if isinstance(frame, AudioFrame):
            call.push(frame)
        elif isinstance(frame, StopFrame):  # finishing waits for decoding: not on the loop
            shared_pool("live-control", 4).submit(call.finish, frame.reason)

    client.on_frame = on_frame

    async def run() -> None:
        try:
            await client.run()
        except Exception as exc:  # noqa: BLE001 - refused or lost: end the call, keep it
            log.warning("Zoom stream of call %s failed: %s", call.call_id, exc)
            shared_pool("live-control", 4).submit(call.finish, f"zoom stream failed: {exc}")

    IoLoop.get().spawn(run())
    return call
