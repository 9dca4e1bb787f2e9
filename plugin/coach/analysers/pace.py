"""Rep speaking pace: words per minute over a sliding window of speech."""

from __future__ import annotations

from collections import deque

from plugin.coach.types import Turn

MIN_WORDS = 20  # fewer words than this in the window: too little to judge pace


class PaceMeter:
    """Words-per-minute of the rep over the last ``window_s`` seconds of call time.

    With word timings, each word counts at its own time and speech time is the span of
    those words per turn; without them, a turn's words spread over its duration.
    """

    def __init__(self, window_s: float) -> None:
        self.window_ms = int(window_s * 1000)
        self._spans: deque[tuple[int, int, int]] = deque()  # (start_ms, end_ms, words)

    def add(self, turn: Turn, n_words: int) -> None:
        if turn.words:
            self._spans.append((turn.words[0].start_ms, turn.words[-1].end_ms, len(turn.words)))
        elif turn.duration_ms > 0:
            self._spans.append((turn.start_ms, turn.end_ms, n_words))
        horizon = turn.end_ms - self.window_ms
        while self._spans and self._spans[0][1] < horizon:
            self._spans.popleft()

    def wpm(self) -> float | None:
        """Current pace, or None when the window holds too little speech."""
        n_words = sum(s[2] for s in self._spans)
        speech_ms = sum(max(0, s[1] - s[0]) for s in self._spans)
        if n_words < MIN_WORDS or speech_ms < 5000:
            return None
        return round(n_words * 60000.0 / speech_ms, 1)
