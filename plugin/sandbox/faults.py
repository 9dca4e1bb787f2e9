"""Fault knobs for tests: make matching requests fail (status, Retry-After) or slow down."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


class FaultError(ValueError):
    """A fault specification is invalid; the message says which field and why."""


@dataclass
class Fault:
    """Applies to requests whose path starts with ``path`` (and ``method`` if given).

    ``status`` 0 means no error (only ``delay_ms``). ``count`` 0 means until cleared.
    """

    path: str = "/"
    method: str = ""
    status: int = 0
    retry_after: float | None = None
    delay_ms: int = 0
    count: int = 1
    message: str = ""
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path) and (not self.method or self.method == method)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_fault(body: Any) -> Fault:
    if not isinstance(body, dict):
        raise FaultError("expected a JSON object like {\"status\": 429, \"count\": 2}")
    known = {"path", "method", "status", "retry_after", "delay_ms", "count", "message"}
    unknown = set(body) - known
    if unknown:
        raise FaultError(f"unknown field(s): {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(known))}")
    status = body.get("status", 0)
    if not isinstance(status, int) or (status and not 400 <= status <= 599):
        raise FaultError("status must be an HTTP error status 400..599 (or 0 for delay only)")
    delay = body.get("delay_ms", 0)
    if not isinstance(delay, int) or not 0 <= delay <= 120_000:
        raise FaultError("delay_ms must be an integer 0..120000")
    if not status and not delay:
        raise FaultError("give a status, a delay_ms, or both")
    count = body.get("count", 1)
    if not isinstance(count, int) or count < 0:
        raise FaultError("count must be a non-negative integer (0 = until cleared)")
    retry_after = body.get("retry_after")
    if retry_after is not None and (not isinstance(retry_after, int | float) or retry_after < 0):
        raise FaultError("retry_after must be a number of seconds >= 0")
    path = body.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/"):
        raise FaultError("path must be a URL path prefix starting with /")
    method = body.get("method", "")
    if not isinstance(method, str):
        raise FaultError("method must be a string such as GET or POST")
    return Fault(path=path, method=method.upper(), status=status, retry_after=retry_after,
                 delay_ms=delay, count=count, message=str(body.get("message", "")))


class Faults:
    """The active faults plus a log of recent API requests (for asserting retries)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.log: deque[dict[str, Any]] = deque(maxlen=2000)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """The first matching fault, consuming one of its uses."""
        with self._lock:
            for f in self._faults:
                if f.matches(method, path):
                    f.hits += 1
                    if f.count and f.hits >= f.count:
                        self._faults.remove(f)
                    return Fault(**{**f.to_dict()})
        return None

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.log.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.log)

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()
