"""WebSocket routes of live calls: ``/ws/calls`` (coach panel, bots) and ``/ws/twilio``
(Twilio Media Streams). Registered through ``INIT_HOOKS``.

The request's thread checks the upgrade and the per-address cap, hands the socket to the
I/O loop (``plugin.web.wsloop``) and returns at once: no socket holds a request thread. The
socket then feeds a ``plugin.live.Connection``, where everything else (first-message auth,
parsing, the pipeline) lives. Abuse limits (docs/live.md): no auth within
``live_auth_timeout_s`` or no call within ``live_idle_s`` closes the socket; open sockets are
capped per client address and per tenant (``plugin.live.limits``).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, request

from plugin.live import engines, stream_tokens
from plugin.live.connection import Connection, Verify, control_pool
from plugin.live.limits import CAP_CLOSE_CODE, CapExceeded, Slot, SocketCaps
from plugin.live.registry import RESUME_GRACE_S, CallRegistry, LiveFactory
from plugin.live.sources import MAX_FRAME_BYTES, AudioSource, PanelSource, TwilioSource
from plugin.security import Identity
from plugin.web.auth import signer
from plugin.web.wsloop import NotUpgradable, handed_over_response, handshake, raw_socket

log = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 120.0  # a call's producer silent this long is treated as dropped
WATCH_TIMEOUT_S = 3600.0  # watchers send nothing; they are dropped after an hour of silence
# Frames somewhat above our own limit still arrive, so the client gets a precise error event
# ("frame_too_large") instead of a bare protocol close; above this the protocol closes the
# socket with 1009 (message too big) before the frame is buffered whole.
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
    app.extensions["salescoach.live_caps"] = SocketCaps(settings.live_max_sockets_per_ip,
                                                        settings.live_max_sockets_per_tenant)
    app.add_url_rule("/ws/calls", "live_calls_socket", calls_socket, websocket=True)
    app.add_url_rule("/ws/twilio", "live_twilio_socket", twilio_socket, websocket=True)
    # Only the serving process (plugin.wsgi) warms the models; CLI commands and workers that
    # build the app for its context load them lazily, if at all.
    if settings.env != "test" and app.config.get("LIVE_WARM_UP", False):
        engines.warm_up_in_background(settings)


def caps() -> SocketCaps:
    sc: SocketCaps = current_app.extensions["salescoach.live_caps"]
    return sc


def _serve(source: AudioSource, verify: Verify, *, resumable: bool = True) -> Response:
    """Upgrade this request and hand the socket to the loop; the thread returns at once."""
    try:
        raw, kind = raw_socket(request.environ)
    except NotUpgradable as exc:
        return Response(f"{exc}\n", status=501, mimetype="text/plain")
    settings = current_app.config["SETTINGS"]
    auth_s, idle_s = settings.live_auth_timeout_s, settings.live_idle_s

    def idle_limit() -> float:
        return IDLE_TIMEOUT_S if conn.call is not None else WATCH_TIMEOUT_S

    ws, refusal = handshake(request.environ, max_size=MAX_MESSAGE_BYTES, idle_limit=idle_limit)
    if ws is None:
        assert refusal is not None
        return refusal
    slot: Slot | None = None
    try:
        slot = caps().open(request.remote_addr or "unknown")
    except CapExceeded as exc:
        log.info("live socket refused (%s): %s", request.remote_addr, exc.reason)
        ws.close(CAP_CLOSE_CODE, exc.reason)
        ws.adopt(raw)
        return handed_over_response(kind)

    def admit(identity: Identity) -> str | None:
        assert slot is not None
        try:
            slot.claim_tenant(identity.tenant_id)
        except CapExceeded as exc:
            return exc.reason
        return None

    conn = Connection(source=source, send=ws.send_text, close=ws.close, backlog=ws.backlog,
                      offload=control_pool().submit, registry=registry(),
                      verify=verify, admit=admit, resumable=resumable)

    def policy(now: float) -> tuple[int, str] | None:
        age = now - ws.opened
        if conn.identity is None and age > auth_s:
            return 1008, f"unauthorized: no auth message within {auth_s:g} s"
        if (conn.call is None and conn.watching is None and conn.remote is None
                and age > idle_s):
            return 1008, f"idle: no call on this socket within {idle_s:g} s"
        return None

    ws.handler = conn
    ws.policy = policy
    ws.check_after(auth_s)  # the deadlines to the moment; the 5 s sweep catches the rest
    ws.check_after(idle_s)
    ws.when_gone(slot.release)
    ws.adopt(raw)
    return handed_over_response(kind)


def calls_socket() -> Response:
    """The panel protocol (docs/live.md). Auth: the first message, ``{"type": "auth",
    "token": …}`` (or a ``start`` carrying ``token``)."""
    verify = signer().verify  # bound now: messages are handled outside this request
    return _serve(PanelSource(), verify)


def twilio_socket() -> Response:
    """Twilio Media Streams. Auth: a one-call stream token (``plugin.live.stream_tokens``,
    from ``POST /api/v1/live/twilio``) in the stream's ``token`` parameter."""
    settings = current_app.config["SETTINGS"]  # bound now: messages are handled later

    def verify(token: str) -> Identity:
        return stream_tokens.redeem(settings, token)

    return _serve(TwilioSource(), verify, resumable=False)
