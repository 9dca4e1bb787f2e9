"""Live decode scheduling: finals first and batched, partials only with spare capacity.

Every live channel of a process shares one Whisper engine. Left to a plain lock, interim
re-decodes (several per utterance) crowd out the finals that coaching waits for, and each
final pays a whole model call of its own. The scheduler runs one thread per model replica:

- a **final** is queued and its caller waits; a free decoder takes *every* queued final (up
  to ``max_batch``) into one ``decode_batch`` call, which costs far less per utterance than
  one by one, so under load the queue drains faster the longer it gets;
- a **partial** is only accepted when no final is waiting, a decoder is idle and the
  decoders' recent busy share is under ``partial_budget``; otherwise the caller gets
  ``None`` at once and simply tries again later. Interim text degrades first, never finals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .engine import SegmentDecode, WhisperEngine

log = logging.getLogger(__name__)

WINDOW_S = 2.0  # busy share is measured over this window


@dataclass(slots=True)
class _Job:
    audio: np.ndarray
    context_s: float | None
    words: bool
    done: threading.Event = field(default_factory=threading.Event)
    result: SegmentDecode | None = None
    error: BaseException | None = None

    def wait(self) -> SegmentDecode:
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@dataclass(slots=True)
class SchedulerStats:
    """Counters for benchmarks and the health page."""

    finals: int = 0
    batches: int = 0
    max_batch_seen: int = 0
    partials: int = 0
    partials_refused: int = 0


class DecodeScheduler:
    """Decoder threads over one engine (one per replica); see the module docstring."""

    def __init__(self, engine: WhisperEngine, *, max_batch: int = 8,
                 partial_budget: float = 0.5) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.partial_budget = partial_budget
        self.stats = SchedulerStats()
        self._cv = threading.Condition()
        self._finals: deque[_Job] = deque()
        self._partials: deque[_Job] = deque()
        self._busy = 0
        self._busy_since: dict[int, float] = {}  # thread ident -> start of its current job
        self._spans: deque[tuple[float, float]] = deque()  # (start, end) of recent jobs
        self._threads = [threading.Thread(target=self._loop, name=f"whisper-decoder-{i}",
                                          daemon=True) for i in range(engine.workers)]
        for th in self._threads:
            th.start()

    # Callers (STT stream threads) -------------------------------------------------------------
    def decode_final(self, audio: np.ndarray, context_s: float | None) -> SegmentDecode:
        """Decode a closed segment with word times; waits its turn (finals go first)."""
        job = _Job(audio, context_s, words=True)
        with self._cv:
            self._finals.append(job)
            self._cv.notify()
        return job.wait()

    def try_partial(self, audio: np.ndarray, context_s: float | None) -> SegmentDecode | None:
        """Decode an open segment for interim text, or ``None`` at once if that would delay a
        final or the decoders are busy enough already."""
        with self._cv:
            if (self._finals or self._partials or self._busy >= len(self._threads)
                    or self._utilisation_locked() >= self.partial_budget):
                self.stats.partials_refused += 1
                return None
            job = _Job(audio, context_s, words=False)
            self._partials.append(job)
            self._cv.notify()
        return job.wait()

    def utilisation(self) -> float:
        """Share of decoder time busy over the last ``WINDOW_S`` seconds (0–1)."""
        with self._cv:
            return self._utilisation_locked()

    def _utilisation_locked(self) -> float:
        now = time.monotonic()
        since = now - WINDOW_S
        while self._spans and self._spans[0][1] < since:
            self._spans.popleft()
        busy = sum(end - max(start, since) for start, end in self._spans)
        busy += sum(now - max(start, since) for start in self._busy_since.values())
        return min(1.0, busy / (WINDOW_S * len(self._threads)))

    # Decoder threads --------------------------------------------------------------------------
    def _loop(self) -> None:
        me = threading.get_ident()
        while True:
            with self._cv:
                while not self._finals and not self._partials:
                    self._cv.wait()
                if self._finals:
                    n = min(self.max_batch, len(self._finals))
                    jobs = [self._finals.popleft() for _ in range(n)]
                else:
                    jobs = [self._partials.popleft()]
                self._busy += 1
                self._busy_since[me] = time.monotonic()
            try:
                self._run(jobs)
            finally:
                with self._cv:
                    self._busy -= 1
                    self._spans.append((self._busy_since.pop(me), time.monotonic()))

    def _run(self, jobs: list[_Job]) -> None:
        first = jobs[0]
        contexts = {j.context_s for j in jobs}  # the widest context serves them all
        context_s = None if None in contexts else max(c for c in contexts if c is not None)
        try:
            results = self.engine.decode_batch([j.audio for j in jobs], words=first.words,
                                               context_s=context_s)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
            log.exception("live decode of %d segment(s) failed", len(jobs))
            for j in jobs:
                j.error = exc
                j.done.set()
            return
        if first.words:
            self.stats.finals += len(jobs)
            self.stats.batches += 1
            self.stats.max_batch_seen = max(self.stats.max_batch_seen, len(jobs))
        else:
            self.stats.partials += 1
        for j, r in zip(jobs, results, strict=True):
            j.result = r
            j.done.set()
