"""Per-app sandbox state shared by the route modules (store, identity, faults, counters)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import current_app

from plugin.sandbox.config import SandboxPaths
from plugin.sandbox.faults import Faults
from plugin.sandbox.store import Store

SF_DAILY_LIMIT = 15000
HS_TEN_SECOND_MAX = 190
HS_DAILY_LIMIT = 250000


@dataclass
class SandboxState:
    paths: SandboxPaths
    store: Store
    ident: dict[str, str]
    faults: Faults = field(default_factory=Faults)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    sf_api_calls: int = 0
    hs_calls: list[float] = field(default_factory=list)
    hs_daily: int = 0

    def count_sf(self) -> int:
        with self._lock:
            self.sf_api_calls += 1
            return self.sf_api_calls

    def count_hs(self, now: float) -> tuple[int, int]:
        """(calls in the rolling 10 s window, calls today) after counting this one."""
        with self._lock:
            self.hs_calls = [t for t in self.hs_calls if now - t < 10.0]
            self.hs_calls.append(now)
            self.hs_daily += 1
            return len(self.hs_calls), self.hs_daily


def state() -> SandboxState:
    st: SandboxState = current_app.extensions["sandbox"]
    return st
