"""Live events bus: JSON events for a call, from any process to the web process holding it.

Workers (the deep tier) ``publish(call_id, event)``; the web process ``subscribe``s while a
call is live and forwards what arrives to the call's sockets.

Two transports, chosen from settings:
- **Redis pub/sub** when ``SALESCOACH_PUBSUB_URL`` is ``redis://…`` or, failing that, the
  Celery broker is Redis: channel ``salescoach:live:<call_id>``.
- **Embedded (files)** otherwise: the embedded Celery broker is a folder on this machine, so
  the worker is a separate process on the same machine. A publisher writes one JSON file per
  event into ``<instance>/live_bus/<call_id>/`` (write to a temp name, then rename: readers
  never see half a file); a daemon thread of the web process polls the folders of the calls
  it holds every 100 ms, delivers and deletes. No server, no table, nothing lost if the
  web process is briefly busy; events of calls nobody holds are swept after an hour.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plugin.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
CHANNEL_PREFIX = "salescoach:live:"


def jsonable(value: Any) -> Any:
    """Fallback for values json cannot encode (numpy scalars in metrics, sets, tuples)."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


class Bus(ABC):
    """Publish/subscribe of per-call JSON events."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()

    @abstractmethod
    def publish(self, call_id: str, event: dict[str, Any]) -> None:
        """Deliver ``event`` to whoever holds ``call_id`` (any process)."""

    def subscribe(self, call_id: str, handler: Handler) -> None:
        with self._lock:
            self._handlers.setdefault(call_id, []).append(handler)
        self._on_subscribe(call_id)

    def unsubscribe(self, call_id: str, handler: Handler) -> None:
        with self._lock:
            handlers = self._handlers.get(call_id, [])
            if handler in handlers:
                handlers.remove(handler)
            if not handlers:
                self._handlers.pop(call_id, None)

    def _dispatch(self, call_id: str, event: dict[str, Any]) -> None:
        with self._lock:
            handlers = list(self._handlers.get(call_id, []))
        for handler in handlers:
            try:
                handler(event)
            except Exception:  # noqa: BLE001 - one bad handler must not stop the bus
                log.exception("live bus handler failed for call %s", call_id)

    def _subscribed(self) -> list[str]:
        with self._lock:
            return list(self._handlers)

    def _on_subscribe(self, call_id: str) -> None:
        """Hook for transports that start listening lazily."""
        return None

    def close(self) -> None:
        """Stop background threads (tests, shutdown)."""
        return None


class FileBus(Bus):
    """Embedded transport: one file per event under ``root/<call_id>/``, polled."""

    POLL_S = 0.1
    STALE_S = 3600.0

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def publish(self, call_id: str, event: dict[str, Any]) -> None:
        folder = self.root / call_id
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        tmp = folder / ("." + name + ".tmp")
        tmp.write_text(json.dumps(event, default=jsonable))
        os.replace(tmp, folder / name)

    def _on_subscribe(self, call_id: str) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="live-bus-files",
                                                daemon=True)
                self._thread.start()

    def poll_once(self) -> int:
        """Deliver pending events of subscribed calls; returns how many."""
        delivered = 0
        for call_id in self._subscribed():
            folder = self.root / call_id
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("[0-9]*.json")):
                try:
                    event = json.loads(path.read_text())
                    path.unlink()
                except (OSError, ValueError):
                    log.warning("dropping unreadable live bus file %s", path)
                    path.unlink(missing_ok=True)
                    continue
                self._dispatch(call_id, event)
                delivered += 1
        return delivered

    def _sweep(self) -> None:
        cutoff = time.time() - self.STALE_S
        for folder in self.root.iterdir():
            try:
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    for f in folder.iterdir():
                        f.unlink(missing_ok=True)
                    folder.rmdir()
            except OSError:
                continue

    def _run(self) -> None:
        last_sweep = 0.0
        while not self._stop.is_set():
            try:
                self.poll_once()
                if time.monotonic() - last_sweep > 300:
                    last_sweep = time.monotonic()
                    self._sweep()
            except Exception:  # noqa: BLE001 - keep polling
                log.exception("live bus poll failed")
            self._stop.wait(self.POLL_S)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


class RedisBus(Bus):
    """Redis pub/sub transport: one pattern subscription per process."""

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis

        self.url = url
        self._redis = redis.Redis.from_url(url)
        self._thread: threading.Thread | None = None
        self._pubsub: Any = None
        self._start_lock = threading.Lock()
        self._ready = threading.Event()

    def publish(self, call_id: str, event: dict[str, Any]) -> None:
        self._redis.publish(CHANNEL_PREFIX + call_id, json.dumps(event, default=jsonable))

    def _on_subscribe(self, call_id: str) -> None:
        with self._start_lock:
            if self._thread is None:
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                self._pubsub.psubscribe(CHANNEL_PREFIX + "*")
                self._thread = threading.Thread(target=self._run, name="live-bus-redis",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while self._pubsub is not None:
            try:
                msg = self._pubsub.get_message(timeout=1.0)
            except Exception:  # noqa: BLE001 - reconnect after a pause
                log.exception("live bus redis read failed; retrying")
                time.sleep(1)
                continue
            if not msg or msg.get("type") != "pmessage":
                continue
            raw = msg["channel"]
            channel = raw.decode() if isinstance(raw, bytes) else str(raw)
            try:
                event = json.loads(msg["data"])
            except ValueError:
                continue
            self._dispatch(channel[len(CHANNEL_PREFIX):], event)

    def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            pubsub.close()
        if self._thread is not None:
            self._thread.join(timeout=3)
        self._redis.close()


def bus_url(settings: Settings) -> str:
    """The Redis URL the bus uses, or '' for the embedded transport."""
    if settings.pubsub_url.startswith(("redis://", "rediss://")):
        return settings.pubsub_url
    if not settings.pubsub_url and settings.broker_url.startswith(("redis://", "rediss://")):
        return settings.broker_url
    return ""


_buses: dict[str, Bus] = {}
_buses_lock = threading.Lock()


def get_bus(settings: Settings) -> Bus:
    """The process-wide bus for these settings (one per transport address)."""
    url = bus_url(settings)
    key = url or str(settings.instance_path / "live_bus")
    with _buses_lock:
        bus = _buses.get(key)
        if bus is None:
            bus = RedisBus(url) if url else FileBus(settings.instance_path / "live_bus")
            _buses[key] = bus
        return bus


def publish(settings: Settings, call_id: str, event: dict[str, Any]) -> None:
    """Convenience for workers: publish one event for a call."""
    get_bus(settings).publish(call_id, event)
