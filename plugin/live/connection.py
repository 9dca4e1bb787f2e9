"""One socket's conversation with the live pipeline, independent of the web framework.

The WebSocket routes (``plugin/web/live_ws.py``) only move messages between the socket and a
``Connection``. The transport's ``send`` never blocks (it queues on the socket's event loop),
so a slow client never stalls the STT pool; a client more than ``OUT_BACKLOG_BYTES`` behind
is disconnected (it can resume), and partials and metrics are dropped before that.

Authentication is in-band: until a first message carries a valid session token (``auth``,
or a ``start`` with ``token``, e.g. Twilio's customParameters), nothing else is accepted;
``admit`` may then still refuse the identity (per-tenant socket cap).

Messages arrive on the socket's event loop. Audio is handled there at once (it only queues
or sends). Everything that may wait (starting a call, stopping it, watching one, the socket
closing) runs on the ``offload`` executor, and later messages of the same socket queue behind
it, so every message is handled in order and the loop never blocks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from plugin.live import store
from plugin.live.bus import get_bus, jsonable
from plugin.live.pipeline import LiveCall, shared_pool
from plugin.live.registry import CallEnded, CallRegistry, ChannelMismatch, Draining
from plugin.live.sources import (
    AudioFrame,
    AudioSource,
    ControlFrame,
    Frame,
    MarkFrame,
    SourceError,
    StartFrame,
    StopFrame,
)
from plugin.live.watch import RemoteWatch
from plugin.privacy.consent import ConsentRequired
from plugin.security import Identity, SessionError

log = logging.getLogger(__name__)

OUT_BACKLOG_BYTES = 1 << 20  # unsent events beyond this: the client is too slow
DROP_BACKLOG_BYTES = 256 << 10  # beyond this, partials and metrics are not sent
DROPPABLE = {"partial", "metrics"}

Verify = Callable[[str], Identity]
Admit = Callable[[Identity], "str | None"]  # a refusal reason, or None to let it in
Offload = Callable[[Callable[[], None]], Any]
_Item = list[Frame] | SourceError | None  # None: the socket closed


def control_pool() -> ThreadPoolExecutor:
    """Threads for socket messages that may wait (start, stop, watch, close)."""
    return shared_pool("live-control", 8)


def dumps(event: dict[str, Any]) -> str:
    """JSON text of an event; never fails on an odd value from an engine."""
    return json.dumps(event, default=jsonable)


def _may(identity: Identity, call_id: str, *, act: bool) -> bool:
    """The person wall for sockets (``plugin.tenancy.may_see_call``) on its own session."""
    from plugin.db import db
    from plugin.tenancy import may_see_call

    with db.session_scope() as s:
        return may_see_call(s, identity, call_id, act=act)


class Connection:
    """Feeds frames of one source into a live call and streams its events back.

    ``send`` and ``close`` must not block and may be called from any thread; ``backlog``
    says how many bytes of sent events the client has not taken yet.
    """

    def __init__(self, *, source: AudioSource, send: Callable[[str], None],
                 close: Callable[[int, str], None], registry: CallRegistry,
                 backlog: Callable[[], int] = lambda: 0,
                 offload: Offload | None = None,
                 identity: Identity | None = None, verify: Verify | None = None,
                 admit: Admit | None = None, resumable: bool = True) -> None:
        self.source, self._send, self._close, self._backlog = source, send, close, backlog
        self._offload = offload
        self.registry = registry
        self.identity, self._verify, self._admit = identity, verify, admit
        self.resumable = resumable
        self.call: LiveCall | None = None
        self.watching: LiveCall | None = None
        self.remote: RemoteWatch | None = None  # a call another process holds
        self.closed = False
        self._inbox: deque[_Item] = deque()
        self._inbox_lock = threading.Lock()
        self._busy = False  # an offloaded job is working through the inbox

    # Outgoing -----------------------------------------------------------------------------
    def send_event(self, event: dict[str, Any]) -> None:
        """Send an event to the client (a listener of the call)."""
        if self.closed:
            raise ConnectionError("connection closed")
        backlog = self._backlog()
        if backlog > DROP_BACKLOG_BYTES and event.get("type") in DROPPABLE:
            return
        if backlog > OUT_BACKLOG_BYTES:
            self.close(1013, "client too slow to receive events; reconnect to resume")
            raise ConnectionError("client too slow")
        self._send(dumps(event))

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self._close(code, reason)

    # Incoming -----------------------------------------------------------------------------
    def on_text(self, text: str) -> None:
        try:
            item: _Item = self.source.parse_text(text)
        except SourceError as exc:
            item = exc
        self._dispatch(item)

    def on_binary(self, data: bytes) -> None:
        try:
            item: _Item = self.source.parse_binary(data)
        except SourceError as exc:
            item = exc
        self._dispatch(item)

    def on_closed(self) -> None:
        """The socket is gone (client closed or network dropped)."""
        self.closed = True
        self._dispatch(None)

    def _dispatch(self, item: _Item) -> None:
        """Handle ``item`` here when it cannot wait on anything and nothing is queued before
        it; otherwise queue it for the offload executor (in order)."""
        quick = False
        if isinstance(item, list):
            quick = all(type(f) is AudioFrame or type(f) is MarkFrame for f in item)
            call = self.call
            if quick and not self._busy and call is not None and not self.closed:  # hot path
                for frame in item:
                    if type(frame) is AudioFrame:
                        call.push(frame)
                return
        with self._inbox_lock:
            if self._busy or (not quick and self._offload is not None):
                self._inbox.append(item)
                if not self._busy:
                    self._busy = True
                    assert self._offload is not None
                    self._offload(self._work)
                return
        self._process(item)

    def _work(self) -> None:
        while True:
            with self._inbox_lock:
                if not self._inbox:
                    self._busy = False
                    return
                item = self._inbox.popleft()
            try:
                self._process(item)
            except Exception:  # noqa: BLE001 - one bad message must not wedge the socket
                log.exception("live %s message failed", self.source.name)

    def _process(self, item: _Item) -> None:
        if item is None:
            self._release()
        elif isinstance(item, SourceError):
            self._source_error(item)
        else:
            self._handle(item)

    def _source_error(self, exc: SourceError) -> None:
        log.info("live %s input rejected: %s %s", self.source.name, exc.code, exc.message)
        if self.source.name != "twilio":  # Twilio would ignore our JSON; the close says it
            self._try_send(exc.to_event())
        # Twilio cannot read error events: anything wrong on its stream closes it.
        if exc.fatal or self.source.name == "twilio":
            self.close(exc.close_code, f"{exc.code}: {exc.message}"[:120])

    def _try_send(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionError):
            self.send_event(event)

    def _handle(self, frames: list[Frame]) -> None:
        for frame in frames:
            if self.closed:
                return
            if isinstance(frame, ControlFrame) and frame.kind == "auth":
                token = frame.data.get("token")
                self._authenticate(token if isinstance(token, str) else "")
                continue
            if self.identity is None and not (isinstance(frame, StartFrame) and frame.token):
                self._source_error(SourceError(
                    "unauthorized", 'authenticate first: send {"type": "auth", "token": …} '
                    "as the first message", fatal=True))
                return
            if isinstance(frame, AudioFrame):
                if self.call is None:  # start was refused
                    self._source_error(SourceError("not_started", "no call on this connection"))
                    return
                self.call.push(frame)
            elif isinstance(frame, StartFrame):
                self._start(frame)
            elif isinstance(frame, StopFrame):
                self._stop(frame.reason)
            elif isinstance(frame, ControlFrame):
                self._control(frame)
            elif isinstance(frame, MarkFrame):
                continue

    def _authenticate(self, token: str) -> bool:
        """Verify ``token`` and admit its identity; a failure closes the socket (1008, or
        1013 over a cap). A later ``auth`` (a renewed token) must be the same account's."""
        try:
            if self._verify is None:
                raise SessionError("missing session token")
            if not token:
                raise SessionError("missing session token")
            identity = self._verify(token)
        except SessionError as exc:
            self._source_error(SourceError("bad_token", exc.reason, fatal=True))
            return False
        current = self.identity
        if current is not None:
            if (identity.tenant_id, identity.user_id) != (current.tenant_id, current.user_id):
                self._source_error(SourceError("bad_token", "a renewed token must be the same "
                                               "account's", fatal=True))
                return False
            self.identity = identity
            return True
        refusal = self._admit(identity) if self._admit is not None else None
        if refusal is not None:
            self._source_error(SourceError("too_many_sockets", refusal, fatal=True,
                                           close_code=1013))
            return False
        self.identity = identity
        return True

    def _start(self, frame: StartFrame) -> None:
        if frame.token and not self._authenticate(frame.token):
            self.source.started = None
            return
        identity = self.identity
        assert identity is not None
        if frame.call_id and not _may(identity, frame.call_id, act=True):
            # Feeding audio into a call (start with its id, resume) is for its owner only;
            # another rep's, a manager's or an admin's attempt reads like an unknown call.
            self.source.started = None
            self._source_error(SourceError("unknown_call", "no such call for this account"))
            return
        try:
            call, resumed = self.registry.start(identity.tenant_id, identity.user_id, frame, self)
        except store.UnknownCall:
            self.source.started = None
            self._source_error(SourceError("unknown_call", "no such call for this account"))
            return
        except CallEnded:
            self.source.started = None
            self._source_error(SourceError("call_ended", "that call has ended; start a new one"))
            return
        except Draining:  # this process is shutting down: the panel reconnects elsewhere
            self.source.started = None
            self.close(1012, "server restarting: reconnect")
            return
        except ChannelMismatch:
            self.source.started = None
            self._source_error(SourceError("bad_channels",
                                           "resume with the same channels the call started with"))
            return
        except ConsentRequired as exc:  # nothing stored: the customer did not agree
            self.source.started = None
            self._source_error(SourceError(exc.code, exc.message,
                                           fatal=self.source.name == "twilio"))
            return
        except Exception:  # noqa: BLE001 - an engine or the database is down
            # The exception (it may quote SQL and its parameters) stays in the log.
            log.exception("live call could not start (tenant %s)", identity.tenant_id)
            self.source.started = None
            self._source_error(SourceError("start_failed", "the call could not start on the "
                                           "server; it has been logged, try again shortly",
                                           fatal=True, close_code=1011))
            return
        self.call = call
        replay = (lambda: self._replay(call, frame.last_seq, frame.last_nudge_id)) if resumed \
            else None
        # ready goes out before the replayed events, under the call lock (inside attach).
        def ready_then_replay() -> None:
            self._try_send({"type": "ready", "call_id": call.call_id, "resume_from": call.next_seq,
                            "resumed": resumed, "channels": list(call.channels)})
            if replay is not None:
                replay()

        call.attach(self.send_event, ready_then_replay)

    def _replay(self, call: LiveCall, last_seq: int, last_nudge_id: int) -> None:
        """Re-send what the client missed: stored turns after ``last_seq`` and nudges after
        ``last_nudge_id`` (runs under the call lock, so nothing new interleaves)."""
        stored = store.load_call(call.tenant_id, call.call_id)
        for turn in stored.turns:
            if turn.seq > last_seq:
                self._try_send({**store.turn_event(turn), "replayed": True})
        for nudge in stored.nudges:
            if int(nudge["id"]) > last_nudge_id:
                self._try_send({**nudge, "replayed": True})

    def _stop(self, reason: str) -> None:
        call = self.call
        if call is None:
            return
        call.finish(reason)  # emits ``ended`` to every listener, this connection included
        self.close(1000, "call ended")

    def _control(self, frame: ControlFrame) -> None:
        if frame.kind == "ping":
            self._try_send({"type": "pong"})
        elif frame.kind == "watch":
            self._watch(frame.data)

    def _watch(self, data: dict[str, Any]) -> None:
        """Follow a call fed by another source (e.g. a Twilio stream) without sending audio."""
        call_id = data.get("call_id")
        if self.identity is None or not isinstance(call_id, str):
            self._source_error(SourceError("bad_message", "watch needs a call_id"))
            return
        if self.watching is not None or self.remote is not None:
            self._source_error(SourceError("already_started", "this socket already watches a "
                                           "call; open another socket to watch another"))
            return
        if not _may(self.identity, call_id, act=False):
            # the owner, their team's manager and admins may watch; anyone else is told the
            # same as for a call that does not exist
            self._source_error(SourceError("unknown_call", "no such live call for this account"))
            return
        call = self.registry.get(call_id)
        if call is None:
            self._watch_remote(call_id)
            return
        if call.tenant_id != self.identity.tenant_id:
            self._source_error(SourceError("unknown_call", "no such live call for this account"))
            return
        self.watching = call

        def ready_then_replay() -> None:
            self._try_send({"type": "ready", "call_id": call.call_id, "resume_from": call.next_seq,
                            "resumed": True, "channels": list(call.channels), "watching": True})
            self._replay(call, 0, 0)

        call.attach(self.send_event, ready_then_replay)

    def _watch_remote(self, call_id: str) -> None:
        """Follow a call this process does not hold: another web process may (over the live
        bus, ``plugin.live.watch``). The tenant check is the same as for a local call."""
        assert self.identity is not None
        try:
            stored = store.load_call(self.identity.tenant_id, call_id)
        except store.UnknownCall:
            self._source_error(SourceError("unknown_call", "no such live call for this account"))
            return
        if stored.status != "live":
            self._source_error(SourceError("call_ended", "that call has ended; its report is "
                                           "in Calls"))
            return
        self.remote = RemoteWatch(get_bus(self.registry.factory.settings),
                                  self.identity.tenant_id, call_id, self._try_send)
        self.remote.start()

    def _release(self) -> None:
        """Leave the call (it waits for a resume, or ends when the source cannot resume)."""
        call, watching, remote = self.call, self.watching, self.remote
        if watching is not None:
            watching.detach(self.send_event)
        if remote is not None:
            remote.stop()
        if call is None:
            return
        call.detach(self.send_event)
        if call.ended is None and self.registry.is_producer(call, self):
            if self.resumable:
                self.registry.release(call, self)
            else:
                self.registry.release(call, self, grace_s=0.0)
