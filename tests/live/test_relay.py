"""Cloud mode: a live call whose AssemblyAI sessions expire mid-call keeps being transcribed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from plugin.devservers.assemblyai import AssemblyAIDevServer
from plugin.live.scripted import Timed
from plugin.speech import wer

pytestmark = pytest.mark.slow

KEY = "relay-test-key"
SESSION_S = 6.0  # the dev server closes each streaming session after this (code 3008)


@pytest.fixture(scope="module")
def assemblyai() -> Iterator[AssemblyAIDevServer]:
    # Whisper backend: real transcription, so a new session hears what is really said.
    with AssemblyAIDevServer(api_key=KEY, max_session_s=SESSION_S) as srv:
        yield srv


@pytest.fixture
def app_overrides(assemblyai: AssemblyAIDevServer) -> dict[str, Any]:
    return {"stt_engine": "assemblyai", "assemblyai_api_key": KEY,
            "assemblyai_base_url": assemblyai.base_url,
            "assemblyai_streaming_host": assemblyai.streaming_host}


def test_expired_stt_sessions_are_reopened_and_the_call_keeps_its_clock(
        panel: Any, short_call: tuple[np.ndarray, list[Timed]]) -> None:
    stereo, timeline = short_call
    # given a panel call transcribed by the AssemblyAI protocol, sessions expiring every 6 s
    client = panel()
    client.send({"type": "start", "sample_rate": 16000, "channels": ["rep", "customer"]})
    client.wait_for(lambda e: e["type"] == "ready")
    # when the whole call streams at real speed (longer than two sessions)
    client.stream(stereo, speed=1.0)
    client.send({"type": "stop"})
    client.wait_for(lambda e: e["type"] == "ended", timeout=90)
    # then each expiry was reported once and the channel reconnected
    errors = [e for e in client.of("error") if e["code"] in ("stt_failed", "stt_reconnected")]
    assert any(e["code"] == "stt_reconnected" for e in errors)
    fails = [e for e in errors if e["code"] == "stt_failed"]
    assert 1 <= len(fails) <= 6  # once per expiry (2 channels × ≤ 3 sessions), not per frame
    # and the last customer line, spoken in a later session, is a turn at its call time
    last = timeline[-1]
    assert last.start_ms > 2 * SESSION_S * 1000
    finals = [f for f in client.of("final") if f["speaker"] == "customer"]
    late = [f for f in finals if "thousand" in f["text"].lower() or "10,000" in f["text"]]
    assert late, [f["text"] for f in finals]
    assert abs(late[-1]["start_ms"] - last.start_ms) < 1500
    # and no line was lost or heard twice where a session ended: each speaker's finals read
    # as their lines (a line cut by an expiry was given whole to the next session)
    for speaker in ("rep", "customer"):
        said = " ".join(t.text for t in timeline if t.speaker == speaker)
        heard = " ".join(f["text"] for f in client.of("final") if f["speaker"] == speaker)
        assert wer(said, heard) <= 0.2, (said, heard)
    for word in ("goals", "expensive", "mind"):
        assert sum(word in f["text"].lower() for f in client.of("final")) == 1, word
