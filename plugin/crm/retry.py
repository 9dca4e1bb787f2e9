"""Retries for CRM calls: exponential backoff with full jitter that honours Retry-After,
and one token refresh on 401. Only ``ProviderError.retryable`` errors are retried."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from plugin.providers.errors import ProviderError, ProviderInputError

log = logging.getLogger(__name__)
T = TypeVar("T")


class Unauthorized(ProviderInputError):
    """The CRM rejected the access token (401); a refresh may fix it."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all; waits grow ``base_s * 2**n`` up to ``cap_s`` (full jitter).

    A Retry-After longer than ``max_wait_s`` is not slept in-process: the error is raised
    with ``retry_after`` set so a queue (the outbox) can schedule the next try.
    """

    attempts: int = 4
    base_s: float = 0.5
    cap_s: float = 8.0
    max_wait_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        jittered = rng.uniform(0, min(self.cap_s, self.base_s * (2 ** attempt)))
        return max(jittered, retry_after or 0.0)


DEFAULT_POLICY = RetryPolicy()
# Someone is waiting (a widget, a call starting): fail fast, the CRM data is a bonus.
INTERACTIVE_POLICY = RetryPolicy(attempts=2, base_s=0.2, cap_s=1.0, max_wait_s=2.0)
INTERACTIVE_TIMEOUT = (3.0, 8.0)


def call_with_retries(op: Callable[[], T], *, classify: Callable[[BaseException], ProviderError],
                      refresh: Callable[[], None] | None = None,
                      policy: RetryPolicy = DEFAULT_POLICY, what: str = "CRM call",
                      sleep: Callable[[float], None] = time.sleep,
                      rng: random.Random | None = None) -> T:
    """Run ``op``; map failures with ``classify``; retry/refresh as the error allows."""
    rng = rng or random.Random()
    refreshed = False
    attempt = 0
    while True:
        try:
            return op()
        except Exception as exc:  # noqa: BLE001 - every failure is classified below
            err = exc if isinstance(exc, ProviderError) else classify(exc)
            if isinstance(err, Unauthorized) and refresh is not None and not refreshed:
                refreshed = True
                log.info("%s: access token rejected; refreshing it once", what)
                refresh()
                continue
            if not err.retryable or attempt + 1 >= policy.attempts:
                if err is exc:
                    raise
                raise err from exc
            if err.retry_after is not None and err.retry_after > policy.max_wait_s:
                raise err from exc
            wait = policy.delay(attempt, err.retry_after, rng)
            log.info("%s failed (%s); retry %d/%d in %.2fs", what, err.message, attempt + 1,
                     policy.attempts - 1, wait)
            sleep(wait)
            attempt += 1
