"""WebSocket routes of live calls: ``/ws/calls`` (coach panel, bots) and ``/ws/twilio``
(Twilio Media Streams). Registered through ``INIT_HOOKS``.

The request's thread checks auth and the upgrade; the socket is then served on the I/O loop
(``plugin.web.wsloop``) and feeds a ``plugin.live.Connection``, where everything else
(parsing, in-band tokens, the pipeline) lives.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, current_app, request

from plugin.live import engines
from plugin.live.connection import Connection, Verify, control_pool
from plugin.live.registry import RESUME_GRACE_S, CallRegistry, LiveFactory
from plugin.live.sources import MAX_FRAME_BYTES, AudioSource, PanelSource, TwilioSource
from plugin.security import Identity, SessionError
from plugin.web.auth import signer, token_from_request
from plugin.web.wsloop import NotUpgradable, finished_response, handshake, raw_socket

log = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 120.0  # a call's producer silent this long is treated as dropped
WATCH_TIMEOUT_S = 3600.0  # watchers send nothing; they are dropped after an hour of silence
# Frames somewhat above our own limit still arrive, so the client gets a precise error event
# ("frame_too_large") instead of a bare protocol close.
MAX_MESSAGE_BYTES = 4 * MAX_FRAME_BYTES


def registry() -> CallRegistry:
    reg: CallRegistry = current_app.extensions["salescoach.live"]
    return reg


def init_app(app: Flask) -> None:
    """Attach the WebSocket routes and this process's call registry."""
    settings = app.config["SETTINGS"]
    grace = float(app.config.get("LIVE_RESUME_GRACE_S", RESUME_GRACE_S))
    app.extensions["salescoach.live"] = CallRegistry(LiveFactory(settings, app=app),
                                                         grace_s=grace)
    app.add_url_rule("/ws/calls", "live_calls_socket", calls_socket, websocket=True)
    app.add_url_rule("/ws/twilio", "live_twilio_socket", twilio_socket, websocket=True)
    # Only the serving process (plugin.wsgi) warms the models; CLI commands and workers that
    # build the app for its context load them lazily, if at all.
    if settings.env != "test" and app.config.get("LIVE_WARM_UP", False):
        engines.warm_up_in_background(settings)


def _serve(source: AudioSource, *, identity: Identity | None = None,
           auth_error: str = "", verify: Verify | None = None,
           resumable: bool = True) -> Response:
    """Upgrade this request, feed the socket to a ``Connection`` until it ends."""
    try:
        raw, kind = raw_socket(request.environ)
    except NotUpgradable as exc:
        return Response(f"{exc}\n", status=501, mimetype="text/plain")

    def idle_limit() -> float:
        return IDLE_TIMEOUT_S if conn.call is not None else WATCH_TIMEOUT_S

    ws, refusal = handshake(request.environ, max_size=MAX_MESSAGE_BYTES, idle_limit=idle_limit)
    if ws is None:
        assert refusal is not None
        return refusal
    conn = Connection(source=source, send=ws.send_text, close=ws.close, backlog=ws.backlog,
                      offload=control_pool().submit, registry=registry(),
                      identity=identity, verify=verify, resumable=resumable)
    ws.handler = conn
    if auth_error:
        ws.send_text(json.dumps({"type": "error", "code": "unauthorized", "fatal": True,
                                 "message": auth_error}))
        conn.close(1008, f"unauthorized: {auth_error}")
    ws.serve(raw)
    return finished_response(kind, raw)


def calls_socket() -> Response:
    """The panel protocol (docs/live.md). Auth: ``?t=<session token>``."""
    try:
        identity: Identity | None = signer().verify(token_from_request())
        error = ""
    except SessionError as exc:
        identity, error = None, exc.reason
    return _serve(PanelSource(), identity=identity, auth_error=error)


def twilio_socket() -> Response:
    """Twilio Media Streams. Auth: a session token in the stream's ``token`` parameter."""
    verify = signer().verify  # bound now: messages are handled outside this request
    return _serve(TwilioSource(), verify=verify, resumable=False)
