"""One error type for every provider, carrying whether a retry can help (livekit-style).

ProviderError
 ├── ProviderInputError     (the input is bad: 4xx other than 408/429; never retried)
 └── ProviderUnavailable    (429, 5xx, timeouts, connection errors; retryable)
"""

from __future__ import annotations


class ProviderError(Exception):
    """A provider call failed. ``retryable`` says whether trying again may succeed."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class ProviderInputError(ProviderError):
    retryable = False


class ProviderUnavailable(ProviderError):
    retryable = True


def classify_status(status: int) -> type[ProviderError]:
    """Map an HTTP status to the error class: 408/429/5xx retry, other 4xx do not."""
    if status in (408, 429) or status >= 500:
        return ProviderUnavailable
    return ProviderInputError
