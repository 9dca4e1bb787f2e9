"""WebSockets served on the process's I/O loop (``plugin.eventloop``) after a WSGI handshake.

The WSGI server (gunicorn gthread, or werkzeug's in development and tests) parses the
upgrade request; ``websockets``' sans-I/O protocol checks it and writes the 101; then the
TCP connection is handed to the loop (``LoopSocket.adopt``: the loop gets a duplicate of
its file descriptor, and the server's descriptor is pointed at a dead socket, so whatever
the server does with it afterwards touches nothing) and the request's thread returns at
once. Idle sockets therefore cost no thread; 1,000 of them leave every request thread free
(docs/live.md, Abuse limits). A frame is parsed and handled where it arrives, and the
handler's sends are batched onto the loop.

Keep-alive: a ping every ``PING_EVERY_S``; a peer that answers nothing for two intervals is
dropped, and so is one that sends no message for its ``idle_limit`` (pongs do not count).
The socket's ``policy`` may also close it (no auth in time, no call): checked on every
sweep (``SWEEP_EVERY_S``) and at the moments given to ``check_after``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from flask import Response
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from plugin.eventloop import IoLoop
from plugin.metrics import WS_CONNECTIONS

log = logging.getLogger(__name__)
_frames_log = logging.getLogger(__name__ + ".protocol")  # websockets' per-connection chatter
_frames_log.setLevel(logging.WARNING)

PING_EVERY_S = 20.0
SWEEP_EVERY_S = 5.0
CLOSE_TIMEOUT_S = 5.0  # after our close frame, the peer has this long to close the TCP side


class Handler(Protocol):
    """What a ``LoopSocket`` delivers messages to (``plugin.live.Connection``)."""

    def on_text(self, text: str) -> None: ...

    def on_binary(self, data: bytes) -> None: ...

    def on_closed(self) -> None: ...


class NotUpgradable(Exception):
    """The WSGI server gives no access to the raw socket (or it speaks TLS itself)."""


class LoopSocket(asyncio.Protocol):
    """One accepted WebSocket on the I/O loop. ``send_text`` and ``close`` are thread-safe."""

    def __init__(self, proto: ServerProtocol, handshake: list[bytes],
                 idle_limit: Callable[[], float] = lambda: float("inf")) -> None:
        self.proto = proto
        self.handler: Handler | None = None
        self.idle_limit = idle_limit
        # Checked on every sweep: (close code, reason) closes the socket now.
        self.policy: Callable[[float], tuple[int, str] | None] | None = None
        self._on_gone: list[Callable[[], None]] = []
        self._checks: list[float] = []  # seconds after the start to run ``policy`` once
        self.transport: asyncio.Transport | None = None
        self.done = threading.Event()
        self._io = IoLoop.get()
        self._handshake = handshake
        self._outbox: deque[bytes | tuple[int, str]] = deque()
        self._out_lock = threading.Lock()
        self._out_bytes = 0
        self._flush_scheduled = False
        self._fragments: list[bytes] = []
        self._fragment_op: Opcode | None = None
        now = time.monotonic()
        self.opened = self.last_rx = self.last_msg = self.last_ping = now
        self._close_timer: asyncio.TimerHandle | None = None

    # Serving ------------------------------------------------------------------------------
    def adopt(self, raw: socket.socket) -> None:
        """Take the handshaken connection over onto the loop and return at once: from now on
        the WSGI server's socket object is blind (``_blind``) and the loop owns the TCP
        connection until it ends (``done`` is set then)."""
        own = socket.socket(fileno=os.dup(raw.fileno()))  # asyncio closes its own fd
        _blind(raw)
        loop = self._io.loop
        # Not waited for: the thread is free before the loop gets to it (under load, the
        # loop may be busy for a while).
        future = asyncio.run_coroutine_threadsafe(
            loop.connect_accepted_socket(lambda: self, sock=own), loop)

        def adopted(f: Any) -> None:
            if f.cancelled() or f.exception() is not None:
                log.warning("live socket could not be adopted: %r",
                            None if f.cancelled() else f.exception())
                own.close()
                self.connection_lost(None)

        future.add_done_callback(adopted)

    def check_after(self, delay_s: float) -> None:
        """Also run ``policy`` once ``delay_s`` after the socket is on the loop (a deadline
        kept to the moment, where the sweep only keeps it to ``SWEEP_EVERY_S``)."""
        self._checks.append(delay_s)

    def when_gone(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` (on the loop) once the connection has ended."""
        self._on_gone.append(fn)

    # asyncio.Protocol (on the loop) -------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        for chunk in self._handshake:
            transport.write(chunk)
        WS_CONNECTIONS.inc()
        _sweeper().add(self)
        for delay in self._checks:
            self._io.loop.call_later(delay + 0.05, self._check_policy)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        self.proto.receive_data(data)
        self._events()

    def eof_received(self) -> bool:
        self.proto.receive_eof()
        self._events()
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        WS_CONNECTIONS.dec()
        _sweeper().discard(self)
        if self._close_timer is not None:
            self._close_timer.cancel()
        handler, self.handler = self.handler, None
        try:
            if handler is not None:
                handler.on_closed()
        finally:
            for fn in self._on_gone:
                try:
                    fn()
                except Exception:  # noqa: BLE001 - one callback must not skip the others
                    log.exception("live socket end callback failed")
            self.done.set()

    # Incoming -----------------------------------------------------------------------------
    def _events(self) -> None:
        for event in self.proto.events_received():
            if isinstance(event, Frame):  # after the handshake, only frames arrive
                self._on_frame(event)
        self._write_out()

    def _on_frame(self, frame: Frame) -> None:
        op = frame.opcode
        if op is Opcode.TEXT or op is Opcode.BINARY:
            if frame.fin:
                self._deliver(op, frame.data)
            else:
                self._fragment_op, self._fragments = op, [bytes(frame.data)]
        elif op is Opcode.CONT and self._fragment_op is not None:
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                op, data = self._fragment_op, b"".join(self._fragments)
                self._fragment_op, self._fragments = None, []
                self._deliver(op, data)
        # PING is answered and CLOSE echoed by the protocol; PONG only counts as traffic.

    def _deliver(self, op: Opcode, data: bytes | bytearray | memoryview) -> None:
        handler = self.handler
        if handler is None or self.proto.state is not State.OPEN:
            return
        self.last_msg = time.monotonic()
        try:
            if op is Opcode.TEXT:
                try:
                    text = bytes(data).decode()
                except UnicodeDecodeError:
                    self._fail(1007, "text message is not valid UTF-8")
                    return
                handler.on_text(text)
            else:
                handler.on_binary(bytes(data))
        except Exception:  # noqa: BLE001 - the handler's bug must not take the loop down
            log.exception("live socket handler failed")
            self._fail(1011, "internal error")

    # Outgoing -----------------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        """Queue a text message (any thread; never blocks)."""
        data = text.encode()
        self._queue(data, len(data))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame after everything queued before it (any thread)."""
        self._queue((code, reason), 0)

    def backlog(self) -> int:
        """Bytes queued for the client and not yet taken by it."""
        transport = self.transport
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        return self._out_bytes + buffered

    def _queue(self, item: bytes | tuple[int, str], size: int) -> None:
        with self._out_lock:
            self._outbox.append(item)
            self._out_bytes += size
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self._io.call(self._flush)

    def _flush(self) -> None:
        if self.transport is None:  # connection_made flushes
            with self._out_lock:
                self._flush_scheduled = False
            return
        with self._out_lock:
            items, self._outbox = self._outbox, deque()
            self._out_bytes = 0
            self._flush_scheduled = False
        for item in items:
            if self.proto.state is not State.OPEN:
                break
            if isinstance(item, tuple):
                code, reason = item
                self.proto.send_close(code, _close_reason(reason))
            else:
                self.proto.send_text(item)
        self._write_out()

    def _fail(self, code: int, reason: str) -> None:
        self.proto.fail(code, _close_reason(reason))
        self._write_out()

    def _write_out(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for chunk in self.proto.data_to_send():
            if chunk:
                transport.write(chunk)
            else:  # SEND_EOF: a server closes the TCP connection at once
                transport.close()
        if self.proto.close_expected() and self._close_timer is None:
            self._close_timer = self._io.loop.call_later(CLOSE_TIMEOUT_S, transport.abort)

    # Keep-alive (called by the sweeper on the loop) ---------------------------------------
    def _check_policy(self, now: float | None = None) -> bool:
        """Close the socket if its ``policy`` says so; True when it did."""
        if self.transport is None or self.proto.state is not State.OPEN or self.policy is None:
            return False
        verdict = self.policy(time.monotonic() if now is None else now)
        if verdict is None:
            return False
        code, reason = verdict
        log.info("live socket closed: %s", reason)
        self._fail(code, reason)
        return True

    def sweep(self, now: float) -> None:
        if self.transport is None or self.proto.state is not State.OPEN:
            return
        if self._check_policy(now):
            return
        limit = self.idle_limit()
        if now - self.last_msg > limit:
            log.info("live socket sent nothing for %.0f s; closing it", limit)
            self._fail(1001, f"no message for {limit:.0f} s")
        elif self.last_ping > self.last_rx and now - self.last_ping > PING_EVERY_S:
            log.info("live socket did not answer a ping; dropping it")
            self.transport.abort()
        elif now - self.last_ping >= PING_EVERY_S and now - self.last_rx >= PING_EVERY_S:
            self.last_ping = now
            self.proto.send_ping(b"")
            self._write_out()


def _close_reason(reason: str) -> str:
    """A close reason fits in 123 bytes of UTF-8."""
    data = reason.encode()
    return reason if len(data) <= 123 else data[:123].decode(errors="ignore")


class _Sweeper:
    """One task on the loop that keeps every socket's keep-alive and idle limits."""

    def __init__(self) -> None:
        self.sockets: set[LoopSocket] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, ws: LoopSocket) -> None:
        self.sockets.add(ws)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, ws: LoopSocket) -> None:
        self.sockets.discard(ws)

    async def _run(self) -> None:
        while self.sockets:
            await asyncio.sleep(SWEEP_EVERY_S)
            now = time.monotonic()
            for ws in list(self.sockets):
                try:
                    ws.sweep(now)
                except Exception:  # noqa: BLE001
                    log.exception("live socket keep-alive failed")


_the_sweeper = _Sweeper()


def _sweeper() -> _Sweeper:
    return _the_sweeper


# The WSGI side ----------------------------------------------------------------------------
def _headers(environ: dict[str, Any]) -> Headers:
    headers = Headers()
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").title()] = value
    return headers


def raw_socket(environ: dict[str, Any]) -> tuple[socket.socket, str]:
    """The request's TCP socket and the server kind, or ``NotUpgradable``."""
    for key, kind in (("gunicorn.socket", "gunicorn"), ("werkzeug.socket", "werkzeug")):
        raw = environ.get(key)
        if raw is not None:
            if isinstance(raw, ssl.SSLSocket):
                raise NotUpgradable("live sockets need TLS terminated in front of the app "
                                    "(an ingress or proxy), not by the WSGI server")
            return raw, kind
    raise NotUpgradable("this WSGI server gives no access to the connection's socket; "
                        "serve with `salescoach serve` (gunicorn)")


def handshake(environ: dict[str, Any], *, max_size: int,
              idle_limit: Callable[[], float] = lambda: float("inf")
              ) -> tuple[LoopSocket | None, Response | None]:
    """Check the upgrade request. Returns the socket to serve, or the HTTP error to send."""
    path = environ.get("PATH_INFO", "/")
    if environ.get("QUERY_STRING"):
        path += "?" + environ["QUERY_STRING"]
    proto = ServerProtocol(max_size=max_size, logger=_frames_log)  # no extensions: PCM
    # does not compress, so permessage-deflate would only cost CPU
    response = proto.accept(Request(path, _headers(environ)))
    if response.status_code != 101:
        return None, Response(bytes(response.body), status=response.status_code,
                              mimetype="text/plain")
    proto.send_response(response)
    # The handshake protocol's parser still expects an HTTP request; frames go to a protocol
    # that starts open.
    framing = ServerProtocol(state=State.OPEN, max_size=max_size, logger=_frames_log)
    return LoopSocket(framing, proto.data_to_send(), idle_limit), None


def _blind(raw: socket.socket) -> None:
    """Point ``raw``'s file descriptor at a socket whose peer is gone: the WSGI server may
    read (end of stream), write (broken pipe), shut down or close it without reaching the
    TCP connection the loop now owns through its duplicate."""
    dead, peer = socket.socketpair()
    peer.close()
    try:
        os.dup2(dead.fileno(), raw.fileno())
    finally:
        dead.close()


def handed_over_response(kind: str) -> Response:
    """What the view returns once its socket is on the loop, so the server writes nothing
    and frees the request's thread (its descriptor is blind by then)."""

    class _Done(Response):
        def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
            if kind == "gunicorn":
                raise StopIteration()  # gunicorn closes the connection without a response
            # werkzeug: a dropped connection is closed without a response or a log line
            raise ConnectionAbortedError("the WebSocket was handed to the I/O loop")

    return _Done()
