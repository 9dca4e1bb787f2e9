"""HTTP plumbing shared by the adapters: a requests session with a default timeout, an
explicit CA (so REQUESTS_CA_BUNDLE cannot override it) and the last response remembered."""

from __future__ import annotations

import threading
from typing import Any

import requests

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0


class CrmSession(requests.Session):
    """``verify`` is passed on every request: requests otherwise lets REQUESTS_CA_BUNDLE win
    over ``session.verify``, which would reject the sandbox's local CA."""

    def __init__(self, verify: bool | str = True,
                 timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)) -> None:
        super().__init__()
        self.verify = verify
        self.default_timeout = timeout
        self._local = threading.local()

    def request(self, method: str | bytes, url: str | bytes,
                *args: Any, **kwargs: Any) -> requests.Response:
        from plugin.metrics import crm_error

        kwargs.setdefault("timeout", self.default_timeout)
        kwargs.setdefault("verify", self.verify)
        try:
            resp = super().request(method, url, *args, **kwargs)
        except requests.RequestException:
            crm_error(None)
            raise
        if resp.status_code >= 400:
            crm_error(resp.status_code)
        self._local.last = resp
        return resp

    @property
    def last_response(self) -> requests.Response | None:
        return getattr(self._local, "last", None)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
