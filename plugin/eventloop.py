"""The process's one asyncio loop thread for network I/O that must not cost a thread each.

It runs every live WebSocket after its handshake (``plugin.web.wsloop``) and every streaming
speech session (``plugin.speech.assemblyai``). With both on one loop, an audio frame goes
from the panel's socket to the speech service's socket without a thread hand-off; with
hundreds of calls that is the difference between the GIL being passed around four times
per frame and not at all.

Nothing that blocks (database, model inference, waiting for a service) may run on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")


class IoLoop:
    """An asyncio loop running forever on a daemon thread (one per process: ``get``)."""

    _instance: IoLoop | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[Any]] = set()  # the loop keeps only weak references
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="io-loop")
        self.thread.start()

    @classmethod
    def get(cls) -> IoLoop:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def on_loop(self) -> bool:
        """True when called from the loop's own thread."""
        return threading.current_thread() is self.thread

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None) -> _T:
        """Run ``coro`` on the loop and wait for its result (from any other thread)."""
        if self.on_loop():
            coro.close()
            raise RuntimeError("IoLoop.run called on the loop thread (it would wait forever)")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Start ``coro`` on the loop without waiting; calls from one thread start in order."""
        if self.on_loop():
            task = self.loop.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop: now when already on it, else as soon as it can."""
        if self.on_loop():
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)
