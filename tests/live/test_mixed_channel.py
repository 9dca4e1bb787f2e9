"""One mixed channel on the panel socket: finals split by voice and "speaking" events, so
the panel's spoken cue knows when only the customer is talking."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from plugin.live.scripted import DISTINCT_VOICES, Line, build_call, espeak_available, render

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not espeak_available(), reason="needs espeak-ng")]


def test_a_mixed_channel_tells_the_panel_who_is_speaking(panel: Any) -> None:
    lines = [Line("rep", "Hi, this is Dana from Acme. Thanks for taking the time today."),
             Line("customer", "Sure. Honestly the price you sent is way too expensive for our "
                  "budget this year, we would need a much smaller number to go ahead."),
             Line("rep", "I understand. What budget did you have in mind for this project?"),
             Line("customer", "We were thinking about ten thousand dollars a year at most, "
                  "and that would have to include the onboarding and the support plan.")]
    call, _timeline = build_call(lines, voices=DISTINCT_VOICES)
    mono, _rate = render(call, "mono")
    client = panel()
    client.send({"type": "start", "sample_rate": 16000, "channels": ["mixed"],
                 "consent": "obtained"})
    client.wait_for(lambda e: e["type"] == "ready")
    client.stream(np.asarray(mono, dtype=np.int16).reshape(-1, 1), speed=2.0)
    client.send({"type": "stop"})
    client.wait_for(lambda e: e["type"] == "ended", timeout=120)
    told = [e["speaker"] for e in client.of("speaking")]
    assert "customer" in told and "rep" in told, told
    # only changes are sent
    assert all(a != b for a, b in zip(told, told[1:], strict=False)), told
    assert {f["speaker"] for f in client.of("final")} == {"rep", "customer"}
