"""Connection caps of live sockets: open sockets per client address and per tenant.

One ``SocketCaps`` per web process (the registry's). A socket takes an address slot when it
opens and a tenant slot when it authenticates; both are given back when it closes. A socket
over a cap is refused with ``CapExceeded`` (its close reason says which cap).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

CAP_CLOSE_CODE = 1013  # "try again later": the client may retry when its other sockets end


class CapExceeded(Exception):
    """A socket over a connection cap; ``reason`` is the close reason the client gets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Slot:
    """One open socket's share of the caps (``release`` is idempotent)."""

    caps: SocketCaps
    ip: str
    tenant: str | None = None
    released: bool = field(default=False)

    def claim_tenant(self, tenant: str) -> None:
        """Count this socket against ``tenant`` (raises ``CapExceeded`` over its cap)."""
        self.caps._claim_tenant(self, tenant)

    def release(self) -> None:
        self.caps._release(self)


class SocketCaps:
    """Thread-safe counters of open sockets by address and by tenant."""

    def __init__(self, per_ip: int, per_tenant: int) -> None:
        self.per_ip, self.per_tenant = per_ip, per_tenant
        self._lock = threading.Lock()
        self.by_ip: Counter[str] = Counter()
        self.by_tenant: Counter[str] = Counter()

    def open(self, ip: str) -> Slot:
        """A slot for a new socket from ``ip`` (raises ``CapExceeded`` over the cap)."""
        with self._lock:
            if self.by_ip[ip] >= self.per_ip:
                raise CapExceeded(f"too many live sockets from this address "
                                  f"(limit {self.per_ip}); close some and retry")
            self.by_ip[ip] += 1
        return Slot(self, ip)

    def _claim_tenant(self, slot: Slot, tenant: str) -> None:
        with self._lock:
            if slot.released or slot.tenant == tenant:
                return
            if self.by_tenant[tenant] >= self.per_tenant:
                raise CapExceeded(f"too many live sockets for this account "
                                  f"(limit {self.per_tenant}); close some and retry")
            self.by_tenant[tenant] += 1
            slot.tenant = tenant

    def _release(self, slot: Slot) -> None:
        with self._lock:
            if slot.released:
                return
            slot.released = True
            _decrement(self.by_ip, slot.ip)
            if slot.tenant is not None:
                _decrement(self.by_tenant, slot.tenant)

    def open_count(self) -> int:
        with self._lock:
            return sum(self.by_ip.values())


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
