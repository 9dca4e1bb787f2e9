"""Watching a live call that another web process holds, over the live events bus.

The panel inside the CRM watches the call the pop-out window (or a Twilio stream) feeds,
and the two sockets may land on different web processes. The bus (``plugin.live.bus``:
Redis pub/sub in production, files on this machine with the embedded broker) carries:

1. The watcher's process subscribes to a key of its own, ``<call_id>.watch.<node>.<n>``, and
   publishes ``watch_request`` (``reply_to`` = that key) on the call's key.
2. The process holding the call (``Mirror``, subscribed on the call's key) attaches a
   listener that publishes every event of the call (partial, final, nudge, metrics, deep,
   ended…) to ``reply_to``; the first message is ``watch_ack`` (sent under the call lock, so
   whatever is stored after it is also mirrored).
3. On the ack (or after ``ACK_WAIT_S`` when no process holds the call: nothing more will
   come, but the stored call is shown) the watcher sends ``ready``, re-sends the stored
   turns and nudges from the database, then the mirrored events, dropping turns and nudges
   it already sent (by seq and id).
4. The watcher renews its request every ``RENEW_S``; a mirror target not renewed within
   ``LEASE_S`` is dropped (a watcher process that died costs nothing for long), and
   ``watch_end`` drops it at once when the watching socket closes.

Tenant checks happen on the watcher's side before anything is asked (``store.load_call``
with the socket's tenant), exactly as for a call held locally.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from plugin.live import store
from plugin.live.bus import Bus

log = logging.getLogger(__name__)

LEASE_S = 60.0  # a mirror target not renewed within this is dropped
RENEW_S = 20.0  # how often a watcher renews its request
ACK_WAIT_S = 2.0  # then the watcher shows the stored call even if no process answered
FAST_ASK_S = 30.0  # unanswered, the watcher asks every second for this long, then every RENEW_S
PUBLISH_QUEUE_MAX = 20_000  # beyond this, partials and metrics are not mirrored
DROPPABLE = {"partial", "metrics"}
NODE = re.sub(r"[^A-Za-z0-9_-]", "-", f"{socket.gethostname()}-{os.getpid()}-"
              f"{uuid.uuid4().hex[:6]}")[:80]
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\.watch\.[A-Za-z0-9_.-]{1,120}$")
_counter = itertools.count(1)


def watch_key(call_id: str) -> str:
    """A bus key for one watching socket of this process."""
    return f"{call_id}.watch.{NODE}.{next(_counter)}"


def valid_reply_to(call_id: str, key: Any) -> bool:
    """Only keys of this call's watchers (the file bus turns keys into folder names)."""
    return isinstance(key, str) and _KEY_RE.match(key) is not None \
        and key.startswith(call_id + ".watch.") and ".." not in key


class Publisher:
    """Publishes on the bus from one thread, in order, so a call's thread never waits on
    Redis or the file system."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="live-watch-publish", daemon=True)
        self._thread.start()

    def put(self, key: str, event: dict[str, Any]) -> None:
        if self._queue.qsize() > PUBLISH_QUEUE_MAX and event.get("type") in DROPPABLE:
            return
        self._queue.put((key, event))

    def _run(self) -> None:
        while True:
            key, event = self._queue.get()
            try:
                self.bus.publish(key, event)
            except Exception:  # noqa: BLE001 - a lost mirrored event must not stop the rest
                log.warning("live watch: could not publish to %s", key, exc_info=True)


_publishers: dict[int, Publisher] = {}
_publishers_lock = threading.Lock()


def publisher(bus: Bus) -> Publisher:
    with _publishers_lock:
        pub = _publishers.get(id(bus))
        if pub is None:
            pub = _publishers[id(bus)] = Publisher(bus)
        return pub


class Mirror:
    """Holder side: answers watch requests for one held call by mirroring its events."""

    def __init__(self, bus: Bus, call: Any) -> None:
        self.bus, self.call = bus, call
        self._targets: dict[str, tuple[float, Callable[[dict[str, Any]], None]]] = {}
        self._lock = threading.Lock()

    def on_bus_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        key = event.get("reply_to")
        if kind not in ("watch_request", "watch_end") or not valid_reply_to(self.call.call_id,
                                                                             key):
            return
        assert isinstance(key, str)
        if kind == "watch_end":
            self._drop(key)
            return
        with self._lock:
            held = self._targets.get(key)
            if held is not None:  # a renewal
                self._targets[key] = (time.monotonic() + LEASE_S, held[1])
                return
            listener = self._listener(key)
            self._targets[key] = (time.monotonic() + LEASE_S, listener)
        pub = publisher(self.bus)
        call = self.call

        def ack() -> None:
            pub.put(key, {"type": "watch_ack", "call_id": call.call_id,
                          "channels": list(call.channels), "next_seq": call.next_seq})

        if call.ended is not None:
            ack()
            pub.put(key, call.ended)
            self._drop(key)
            return
        call.attach(listener, ack)

    def _listener(self, key: str) -> Callable[[dict[str, Any]], None]:
        pub = publisher(self.bus)

        def forward(event: dict[str, Any]) -> None:
            with self._lock:
                held = self._targets.get(key)
            if held is None or held[0] < time.monotonic():
                self._drop(key)
                return
            pub.put(key, event)
            if event.get("type") == "ended":
                self._drop(key)

        return forward

    def _drop(self, key: str) -> None:
        with self._lock:
            held = self._targets.pop(key, None)
        if held is not None:
            self.call.detach(held[1])

    @property
    def watchers(self) -> int:
        with self._lock:
            return len(self._targets)

    def close(self) -> None:
        with self._lock:
            keys = list(self._targets)
        for key in keys:
            self._drop(key)


class RemoteWatch:
    """Watcher side: one socket following a call held by another process (see module doc)."""

    def __init__(self, bus: Bus, tenant_id: str, call_id: str,
                 send: Callable[[dict[str, Any]], None], *,
                 ack_wait_s: float = ACK_WAIT_S, renew_s: float = RENEW_S) -> None:
        self.bus, self.tenant_id, self.call_id, self._send = bus, tenant_id, call_id, send
        self.key = watch_key(call_id)
        self.ack_wait_s, self.renew_s = ack_wait_s, renew_s
        self._lock = threading.RLock()
        self._buffer: list[dict[str, Any]] = []
        self.streaming = False
        self.acked = False  # a holder answered
        self.started = 0.0
        self.stopped = False
        self.last_seq = 0
        self.last_nudge_id = 0
        self._timer: threading.Timer | None = None

    # Life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.started = time.monotonic()
        self.bus.subscribe(self.key, self._on_event)
        self._request()
        self._schedule(self.ack_wait_s, self._ack_timeout)

    def stop(self) -> None:
        with self._lock:
            if self.stopped:
                return
            self.stopped = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.bus.unsubscribe(self.key, self._on_event)
        try:
            self.bus.publish(self.call_id, {"type": "watch_end", "reply_to": self.key})
        except Exception:  # noqa: BLE001 - the holder's lease drops us anyway
            log.info("live watch: could not say watch_end for %s", self.call_id)

    def _request(self) -> None:
        self.bus.publish(self.call_id, {"type": "watch_request", "reply_to": self.key})

    def _schedule(self, delay: float, fn: Callable[[], None]) -> None:
        with self._lock:
            if self.stopped:
                return
            timer = threading.Timer(delay, fn)
            timer.daemon = True
            self._timer = timer
        timer.start()

    def _ack_timeout(self) -> None:
        with self._lock:
            if not self.streaming and not self.stopped:
                self._go(None)
        self._renew()

    def _renew(self) -> None:
        if self.stopped:
            return
        try:
            self._request()
        except Exception:  # noqa: BLE001 - try again at the next renewal
            log.warning("live watch: renewal for %s failed", self.call_id, exc_info=True)
        # Until a holder answers (a call still being registered, or resumed after a restart)
        # ask every second for a while, so its events start flowing as soon as it is held.
        fast = not self.acked and time.monotonic() < self.started + FAST_ASK_S
        self._schedule(min(self.renew_s, 1.0) if fast else self.renew_s, self._renew)

    # Events ------------------------------------------------------------------------------
    def _on_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self.stopped:
                return
            if event.get("type") == "watch_ack":
                self.acked = True
                if not self.streaming:
                    self._go(event)
                return
            if not self.streaming:
                self._buffer.append(event)
                return
            self._forward(event)
        if event.get("type") == "ended":
            self.stop()

    def _go(self, ack: dict[str, Any] | None) -> None:
        """``ready``, the stored call, then what was mirrored meanwhile (under the lock)."""
        try:
            stored = store.load_call(self.tenant_id, self.call_id)
        except store.UnknownCall:
            stored = None
        turns = stored.turns if stored is not None else ()
        next_seq = int(ack["next_seq"]) if ack and isinstance(ack.get("next_seq"), int) else (
            (turns[-1].seq + 1) if turns else 1)
        self._send({"type": "ready", "call_id": self.call_id, "resume_from": next_seq,
                    "resumed": True, "channels": list(ack.get("channels") or []) if ack else [],
                    "watching": True})
        for turn in turns:
            self._forward({**store.turn_event(turn), "replayed": True})
        for nudge in stored.nudges if stored is not None else ():
            self._forward({**nudge, "replayed": True})
        self.streaming = True
        buffered, self._buffer = self._buffer, []
        for event in buffered:
            self._forward(event)
        if stored is not None and stored.status != "live" and ack is None:
            self._send({"type": "ended", "call_id": self.call_id, "reason": "ended",
                        "turns": len(turns)})  # it ended before anyone answered
            self.stop()

    def _forward(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "final":
            seq = event.get("seq")
            if isinstance(seq, int):
                if seq <= self.last_seq:
                    return
                self.last_seq = seq
        elif kind == "nudge":
            nid = event.get("id")
            if isinstance(nid, int):
                if nid <= self.last_nudge_id:
                    return
                self.last_nudge_id = nid
        try:
            self._send(event)
        except Exception:  # noqa: BLE001 - the socket went away; release() stops us
            log.debug("live watch: send to a closed socket of %s", self.call_id)
