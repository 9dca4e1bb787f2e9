"""Calls held by this process: creation, resume (same process or after a restart), grace.

``LiveFactory`` builds ``LiveCall``s from settings (STT provider, tenant playbook, CRM
context, bus subscription). ``CallRegistry`` maps call ids to the live calls of this
process, hands a call to the connection that resumes it, and ends calls whose producer
disappeared and did not come back within the grace period.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from plugin.live import engines, store
from plugin.live.bus import get_bus
from plugin.live.pipeline import LiveCall, side_pool
from plugin.live.sources import StartFrame
from plugin.live.watch import Mirror
from plugin.metrics import LIVE_CALLS
from plugin.privacy.consent import check as check_consent
from plugin.settings import Settings

log = logging.getLogger(__name__)

RESUME_GRACE_S = 30.0  # a dropped panel may come back within this many seconds


class CallEnded(Exception):
    """The call exists but has ended; it cannot be resumed."""


class Draining(Exception):
    """This process is draining (shutting down): a new call must start on another one."""


class ChannelMismatch(Exception):
    """A resume asked for other channels than the call has."""


class LiveFactory:
    """Builds live calls with this process's engines."""

    def __init__(self, settings: Settings, *, deep: bool = True, post_call: bool = True,
                 app: Any = None) -> None:
        self.settings = settings
        self.deep, self.post_call = deep, post_call
        # Work handed to Celery (deep tier, post-call) runs in this Flask app's context so
        # it uses the app's Celery and database rather than building new ones.
        self.app_context: Callable[[], AbstractContextManager[Any]] = (
            app.app_context if app is not None else nullcontext)

    def _coach(self, tenant_id: str, record_id: str, record_type: str) -> Any:
        """A coach session; the CRM context (a network call) is fetched off the socket
        thread and attached when it arrives, so a slow CRM never delays ``ready``."""
        coach = engines.new_coach(engines.playbook_for(tenant_id), None)
        if record_id:
            def attach() -> None:
                context = engines.customer_context(self.settings, tenant_id, record_id,
                                                   record_type)
                if context is not None:
                    coach.context = context

            side_pool().submit(attach)
        return coach

    def _wire(self, call: LiveCall) -> LiveCall:
        bus = get_bus(self.settings)
        bus.subscribe(call.call_id, call.on_bus_event)
        mirror = Mirror(bus, call)  # watchers in other web processes (plugin.live.watch)
        bus.subscribe(call.call_id, mirror.on_bus_event)

        def unwire(c: LiveCall) -> None:
            bus.unsubscribe(c.call_id, c.on_bus_event)
            bus.unsubscribe(c.call_id, mirror.on_bus_event)
            mirror.close()

        call.on_end.append(unwire)
        return call

    def new(self, tenant_id: str, user_id: int | None, start: StartFrame) -> LiveCall:
        """A new call: stored at once (status live), coached from its first turn. The
        tenant's recording-consent policy is checked first (``ConsentRequired``)."""
        consent = check_consent(tenant_id, start.channels, start.consent)
        coach = self._coach(tenant_id, start.record_id, start.record_type)
        call_id = store.create_call(tenant_id, user_id, source=start.source,
                                    record_id=start.record_id, record_type=start.record_type,
                                    title=start.title, consent=consent)
        try:
            call = LiveCall(call_id=call_id, tenant_id=tenant_id, channels=start.channels,
                            stt=engines.stt_for(self.settings), coach=coach, deep=self.deep,
                            post_call=self.post_call, source=start.source,
                            app_context=self.app_context)
        except Exception as exc:
            store.end_call(tenant_id, call_id, duration_ms=0, metrics={}, status="failed",
                           error=f"speech-to-text could not start: {exc}")
            raise
        return self._wire(call)

    def rebuild(self, stored: store.StoredCall, channels: tuple[str, ...]) -> LiveCall:
        """A call this process does not hold (server restarted): replay its stored turns
        through a fresh coach session so metrics, checklist and rate limits carry on."""
        coach = self._coach(stored.tenant_id, stored.record_id, stored.record_type)
        for turn in stored.turns:
            try:
                coach.on_turn(turn)
            except Exception:  # noqa: BLE001 - a bad stored turn must not block the resume
                log.exception("replaying turn %s of %s failed", turn.seq, stored.call_id)
        last = stored.turns[-1] if stored.turns else None
        offset = max(stored.duration_ms, last.end_ms if last else 0)
        return self._wire(LiveCall(
            call_id=stored.call_id, tenant_id=stored.tenant_id, channels=channels,
            stt=engines.stt_for(self.settings), coach=coach,
            next_seq=(last.seq + 1) if last else 1, offset_ms=offset,
            last_speaker=last.speaker if last else "customer", deep=self.deep,
            post_call=self.post_call, app_context=self.app_context))


class CallRegistry:
    """The live calls of this process, by id."""

    def __init__(self, factory: LiveFactory, grace_s: float = RESUME_GRACE_S) -> None:
        self.factory = factory
        self.grace_s = grace_s
        self._calls: dict[str, LiveCall] = {}
        self._producers: dict[str, object] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.RLock()

    def get(self, call_id: str) -> LiveCall | None:
        with self._lock:
            return self._calls.get(call_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)

    def _add(self, call: LiveCall) -> LiveCall:
        if call.call_id not in self._calls:
            LIVE_CALLS.inc()
        self._calls[call.call_id] = call
        call.on_end.append(self._forget)
        return call

    def _forget(self, call: LiveCall) -> None:
        with self._lock:
            if self._calls.get(call.call_id) is call:
                del self._calls[call.call_id]
                LIVE_CALLS.dec()
            self._producers.pop(call.call_id, None)
            timer = self._timers.pop(call.call_id, None)
        if timer is not None:
            timer.cancel()

    def start(self, tenant_id: str, user_id: int | None, start: StartFrame,
              producer: object) -> tuple[LiveCall, bool]:
        """New call, or resume ``start.call_id``; returns (call, resumed).

        Raises ``store.UnknownCall`` (unknown or another tenant's), ``CallEnded``,
        ``ChannelMismatch``.
        """
        if self.draining and not (start.call_id and start.call_id in self._calls):
            raise Draining(start.call_id or "new call")
        if not start.call_id:
            call = self.factory.new(tenant_id, user_id, start)
            with self._lock:
                self._add(call)
                self._producers[call.call_id] = producer
            return call, False
        with self._lock:
            held = self._calls.get(start.call_id)
            if held is not None:
                if held.tenant_id != tenant_id:
                    raise store.UnknownCall(start.call_id)
                if held.ending:
                    raise CallEnded(start.call_id)
                if held.channels != start.channels:
                    raise ChannelMismatch(start.call_id)
                self._claim(held, producer)
                return held, True
            stored = store.load_call(tenant_id, start.call_id)
            if stored.status != "live":
                raise CallEnded(start.call_id)
            call = self._add(self.factory.rebuild(stored, start.channels))
            self._claim(call, producer)
            return call, True

    def _claim(self, call: LiveCall, producer: object) -> None:
        timer = self._timers.pop(call.call_id, None)
        if timer is not None:
            timer.cancel()
        self._producers[call.call_id] = producer

    def is_producer(self, call: LiveCall, producer: object) -> bool:
        with self._lock:
            return self._producers.get(call.call_id) is producer

    def release(self, call: LiveCall, producer: object, grace_s: float | None = None) -> None:
        """The producer went away: end the call unless it is resumed within the grace."""
        with self._lock:
            if self._producers.get(call.call_id) is not producer or call.ended is not None:
                return
            self._producers.pop(call.call_id, None)
            if self.draining:  # handed over: another process resumes it from the store
                return
            grace = self.grace_s if grace_s is None else grace_s
            timer = threading.Timer(grace, self._expire, args=(call,))
            timer.daemon = True
            self._timers[call.call_id] = timer
        timer.start()

    # Drain (plugin.web.drain) ---------------------------------------------------------------
    draining = False

    def drain(self) -> None:
        """Refuse new calls from now on; the live ones go on until they end or are handed over."""
        self.draining = True

    def live_count(self) -> int:
        with self._lock:
            return sum(1 for c in self._calls.values() if c.ended is None)

    def hand_over(self, reason: str = "server restarting: reconnect") -> int:
        """Close every live call's socket with 1012 (service restart): the panel reconnects
        and resumes the call on another process, which rebuilds it from the store. The calls
        are not ended here (no expiry timer while draining). Returns how many were closed."""
        with self._lock:
            producers = list(self._producers.values())
            timers = list(self._timers.values())
            self._timers.clear()
        for timer in timers:
            timer.cancel()
        closed = 0
        for producer in producers:
            close = getattr(producer, "close", None)
            if callable(close):
                try:
                    close(1012, reason)
                    closed += 1
                except Exception:  # noqa: BLE001 - a socket already gone
                    log.warning("could not hand over a live call", exc_info=True)
        return closed

    def _expire(self, call: LiveCall) -> None:
        with self._lock:
            if self._producers.get(call.call_id) is not None:
                return
            self._timers.pop(call.call_id, None)
        log.info("call %s ended: producer did not come back", call.call_id)
        call.finish("disconnect timeout")
