"""WebSocket routes of live calls (flask-sock): ``/ws/calls`` (coach panel, bots) and
``/ws/twilio`` (Twilio Media Streams). Registered through ``INIT_HOOKS``.

The handlers only move messages between the socket and a ``plugin.live.Connection``;
everything else (parsing, auth of in-band tokens, pipeline) lives in ``plugin.live``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from flask import Flask, current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from plugin.live import engines
from plugin.live.connection import Connection
from plugin.live.registry import RESUME_GRACE_S, CallRegistry, LiveFactory
from plugin.live.sources import MAX_FRAME_BYTES, AudioSource, PanelSource, TwilioSource
from plugin.security import Identity, SessionError
from plugin.web.auth import signer, token_from_request

log = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 120.0  # a call's producer silent this long is treated as dropped
WATCH_TIMEOUT_S = 3600.0  # watchers send nothing; they are dropped after an hour of silence

sock = Sock()


def registry() -> CallRegistry:
    reg: CallRegistry = current_app.extensions["salescoach.live"]
    return reg


def init_app(app: Flask) -> None:
    """Attach the WebSocket routes and this process's call registry."""
    settings = app.config["SETTINGS"]
    # Let frames somewhat above our own limit through, so the client gets a precise error
    # event ("frame_too_large") instead of a bare protocol close.
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"max_message_size": 4 * MAX_FRAME_BYTES,
                                                  "ping_interval": 20})
    grace = float(app.config.get("LIVE_RESUME_GRACE_S", RESUME_GRACE_S))
    app.extensions["salescoach.live"] = CallRegistry(LiveFactory(settings, app=app),
                                                         grace_s=grace)
    sock.init_app(app)
    app.before_request(_decline_compression)
    # Only the serving process (plugin.wsgi) warms the models; CLI commands and workers that
    # build the app for its context load them lazily, if at all.
    if settings.env != "test" and app.config.get("LIVE_WARM_UP", False):
        engines.warm_up_in_background(settings)


def _decline_compression() -> None:
    """Live sockets carry PCM audio, which permessage-deflate cannot shrink; inflating every
    frame cost more CPU than the rest of the per-frame work together (profiled at 100 relay
    calls). Without the client's offer in the handshake, no extension is negotiated."""
    if request.path.startswith("/ws/"):
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)


def _pump(ws: Any, conn: Connection) -> None:
    """Socket → connection until either side closes."""
    idle_since = time.monotonic()
    try:
        while not conn.closed:
            data = ws.receive(timeout=10)
            if data is None:
                limit = IDLE_TIMEOUT_S if conn.call is not None else WATCH_TIMEOUT_S
                if time.monotonic() - idle_since > limit:
                    log.info("live socket silent for %ss; treating as dropped", limit)
                    break
                continue
            idle_since = time.monotonic()
            if isinstance(data, bytes | bytearray):
                conn.on_binary(bytes(data))
            else:
                conn.on_text(data)
    except ConnectionClosed:
        pass
    finally:
        conn.on_closed()


class _SerialSocket:
    """The socket under a simple-websocket connection, writing one whole frame at a time.

    simple-websocket writes from two threads without a lock (our sender thread's messages,
    its own thread's pings and pongs) and with ``socket.send``, which may write part of a
    buffer; interleaved bytes corrupt the stream ("Invalid frame header" in the browser).
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _serialise_writes(ws: Any) -> None:
    if not isinstance(ws.sock, _SerialSocket):
        ws.sock = _SerialSocket(ws.sock)


def _connection(ws: Any, source: AudioSource, **kwargs: Any) -> Connection:
    _serialise_writes(ws)
    return Connection(source=source, send=ws.send,
                      close=lambda code, reason: ws.close(reason=code, message=reason),
                      registry=registry(), **kwargs)


@sock.route("/ws/calls")
def calls_socket(ws: Any) -> None:
    """The panel protocol (docs/live.md). Auth: ``?t=<session token>``."""
    try:
        identity = signer().verify(token_from_request())
    except SessionError as exc:
        ws.send(json.dumps({"type": "error", "code": "unauthorized", "fatal": True,
                            "message": exc.reason}))
        ws.close(reason=1008, message=f"unauthorized: {exc.reason}")
        return
    _pump(ws, _connection(ws, PanelSource(), identity=identity))


def _verify_token(token: str) -> Identity:
    """Verify an in-band token (runs in the socket's request context)."""
    return signer().verify(token)


@sock.route("/ws/twilio")
def twilio_socket(ws: Any) -> None:
    """Twilio Media Streams. Auth: a session token in the stream's ``token`` parameter."""
    _pump(ws, _connection(ws, TwilioSource(), verify=_verify_token, resumable=False))
