"""A local server speaking Zoom RTMS's signalling and media WebSocket protocol, over TLS.

For tests of ``plugin.live.zoom`` with no Zoom account: one stream, several participants
whose 16 kHz PCM16 audio is sent as ``MEDIA_DATA_AUDIO`` packets (20 ms per speaker, with
``user_id``/``user_name``/``timestamp``), handshake signatures checked as Zoom does (a wrong
one gets ``status_code`` 3 and close 1008), keep-alive requests that must be answered, an
optional media-socket drop after N packets (the client must reconnect; the stream continues
from where it was), real-time pacing or as fast as possible, and ``STREAM_STATE_UPDATE``
TERMINATED at the end.

```python
with ZoomRtmsDevServer(client_id="id", client_secret="s", participants=[...]) as srv:
    srv.webhook_event()  # the meeting.rtms_started payload pointing at it
    srv.ssl_context      # trusts its certificate
```
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from plugin.live.zoom import (
    CLIENT_READY_ACK,
    DATA_HAND_SHAKE_REQ,
    DATA_HAND_SHAKE_RESP,
    KEEP_ALIVE_REQ,
    KEEP_ALIVE_RESP,
    MEDIA_DATA_AUDIO,
    SIGNALING_HAND_SHAKE_REQ,
    SIGNALING_HAND_SHAKE_RESP,
    STATE_TERMINATED,
    STREAM_STATE_UPDATE,
    rtms_signature,
)

PACKET_SAMPLES = 320  # 20 ms at 16 kHz
STATUS_INVALID_SIGNATURE = 3


@dataclass(frozen=True, slots=True)
class Participant:
    user_id: int
    user_name: str
    pcm: np.ndarray  # int16, 16 kHz, aligned to the meeting's start


class ZoomRtmsDevServer:
    """Signalling at ``wss://127.0.0.1:PORT/signaling``, media at ``…/media``."""

    def __init__(self, *, client_id: str, client_secret: str, participants: list[Participant],
                 meeting_uuid: str = "mtg-uuid==", stream_id: str = "stream-1",
                 drop_media_after: int | None = None, keepalive_every: int = 50,
                 realtime: bool = False) -> None:
        import trustme

        self.client_id, self.client_secret = client_id, client_secret
        self.meeting_uuid, self.stream_id = meeting_uuid, stream_id
        self.participants = participants
        self.drop_media_after = drop_media_after
        self.keepalive_every = keepalive_every
        self.realtime = realtime  # send at the pace of the audio (else as fast as possible)
        self._ca = trustme.CA()
        cert = self._ca.issue_cert("127.0.0.1", "localhost")
        self._server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self._server_ssl)
        self.ssl_context = ssl.create_default_context()
        self._ca.configure_trust(self.ssl_context)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.position = 0  # next packet slot to send (kept across reconnects)
        self.handshakes: list[str] = []  # "signaling ok", "media bad_signature", …
        self.keepalive_answers = 0
        self.ended = False
        self._ready: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._dropped = False

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/signaling"

    def webhook_event(self) -> dict[str, Any]:
        return {"event": "meeting.rtms_started", "event_ts": 1, "payload": {
            "operator_id": "op", "object": {"meeting_uuid": self.meeting_uuid,
                                            "rtms_stream_id": self.stream_id,
                                            "server_urls": self.url}}}

    # lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> ZoomRtmsDevServer:
        self._thread = threading.Thread(target=self._run, name="zoom-rtms-dev", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the RTMS dev server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop, self._ready, self._finished = asyncio.Event(), asyncio.Event(), asyncio.Event()
        async with serve(self._handle, "127.0.0.1", self.port, ssl=self._server_ssl):
            self._started.set()
            await self._stop.wait()

    # protocol -----------------------------------------------------------------------------
    def _signed(self, msg: dict[str, Any]) -> bool:
        expected = rtms_signature(self.client_id, self.client_secret, self.meeting_uuid,
                                  self.stream_id)
        return (msg.get("meeting_uuid") == self.meeting_uuid
                and msg.get("rtms_stream_id") == self.stream_id
                and msg.get("signature") == expected)

    async def _handle(self, ws: Any) -> None:
        path = ws.request.path
        try:
            if path == "/signaling":
                await self._signaling(ws)
            elif path == "/media":
                await self._media(ws)
            else:
                await ws.close(1008, "unknown path")
        except Exception:  # noqa: BLE001 - a client that went away
            return

    async def _refuse(self, ws: Any, msg_type: int, which: str) -> None:
        self.handshakes.append(f"{which} bad_signature")
        await ws.send(json.dumps({"msg_type": msg_type, "protocol_version": 1,
                                  "status_code": STATUS_INVALID_SIGNATURE,
                                  "reason": "invalid signature"}))
        await ws.close(1008, "invalid signature")

    async def _signaling(self, ws: Any) -> None:
        assert self._ready is not None and self._finished is not None
        msg = json.loads(await ws.recv())
        if msg.get("msg_type") != SIGNALING_HAND_SHAKE_REQ or not self._signed(msg):
            await self._refuse(ws, SIGNALING_HAND_SHAKE_RESP, "signaling")
            return
        self.handshakes.append("signaling ok")
        media = f"wss://127.0.0.1:{self.port}/media"
        await ws.send(json.dumps({"msg_type": SIGNALING_HAND_SHAKE_RESP, "protocol_version": 1,
                                  "status_code": 0, "media_server": {"server_urls": {
                                      "audio": media, "all": media}}}))
        finished = asyncio.create_task(self._finished.wait())
        while True:
            receive = asyncio.create_task(ws.recv())
            done, _ = await asyncio.wait({receive, finished}, return_when=asyncio.FIRST_COMPLETED)
            if finished in done:
                receive.cancel()
                await ws.send(json.dumps({"msg_type": STREAM_STATE_UPDATE,
                                          "rtms_stream_id": self.stream_id,
                                          "state": STATE_TERMINATED, "reason": "meeting ended"}))
                self.ended = True
                await ws.close()
                return
            msg = json.loads(receive.result())
            if msg.get("msg_type") == CLIENT_READY_ACK:
                self._ready.set()
                await ws.send(json.dumps({"msg_type": KEEP_ALIVE_REQ, "timestamp": 0}))
            elif msg.get("msg_type") == KEEP_ALIVE_RESP:
                self.keepalive_answers += 1

    async def _media(self, ws: Any) -> None:
        assert self._ready is not None and self._finished is not None
        msg = json.loads(await ws.recv())
        if msg.get("msg_type") != DATA_HAND_SHAKE_REQ or not self._signed(msg):
            await self._refuse(ws, DATA_HAND_SHAKE_RESP, "media")
            return
        self.handshakes.append("media ok")
        await ws.send(json.dumps({"msg_type": DATA_HAND_SHAKE_RESP, "protocol_version": 1,
                                  "status_code": 0, "sequence": 0,
                                  "media_params": msg.get("media_params", {})}))
        await asyncio.wait_for(self._ready.wait(), 10)
        self._ready.clear()  # a reconnecting client says it is ready again
        length = max(len(p.pcm) for p in self.participants)
        sent = 0
        loop = asyncio.get_running_loop()
        started = loop.time() - self.position * 0.02
        while self.position * PACKET_SAMPLES < length:
            a = self.position * PACKET_SAMPLES
            for p in self.participants:
                chunk = p.pcm[a:a + PACKET_SAMPLES]
                if len(chunk) and np.abs(chunk).max() > 0:  # only active speakers are sent
                    await ws.send(json.dumps({"msg_type": MEDIA_DATA_AUDIO, "content": {
                        "user_id": p.user_id, "user_name": p.user_name,
                        "data": base64.b64encode(chunk.astype("<i2").tobytes()).decode(),
                        "timestamp": self.position * 20}}))
            self.position += 1
            sent += 1
            if sent % self.keepalive_every == 0:
                await ws.send(json.dumps({"msg_type": KEEP_ALIVE_REQ,
                                          "timestamp": self.position * 20}))
            if (self.drop_media_after is not None and not self._dropped
                    and sent >= self.drop_media_after):
                self._dropped = True
                await ws.close(1011, "media server restarting")
                return
            if self.realtime:
                await asyncio.sleep(max(0.0, started + self.position * 0.02 - loop.time()))
            else:
                await asyncio.sleep(0)
        self._finished.set()
        await ws.close()
