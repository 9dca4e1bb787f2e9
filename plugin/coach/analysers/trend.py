"""Smoothed sentiment per side and detection of a falling customer trend."""

from __future__ import annotations

from collections import deque


class SentimentTrend:
    """Exponential moving average per side; ``falling()`` compares now with the recent peak."""

    def __init__(self, smoothing: float, window_turns: int, drop: float) -> None:
        self.alpha = smoothing
        self.drop = drop
        self.smoothed: dict[str, float | None] = {"rep": None, "customer": None}
        self._recent: deque[float] = deque(maxlen=window_turns)

    def add(self, speaker: str, value: float) -> float:
        prev = self.smoothed[speaker]
        cur = value if prev is None else self.alpha * value + (1 - self.alpha) * prev
        self.smoothed[speaker] = cur
        if speaker == "customer":
            self._recent.append(cur)
        return cur

    def falling(self) -> bool:
        """True when the customer's smoothed sentiment fell ``drop`` below its recent peak."""
        if len(self._recent) < 2:
            return False
        return max(self._recent) - self._recent[-1] >= self.drop and self._recent[-1] < 0.1
