"""Two short demo sales calls (stereo WAV: left = rep, right = customer) with their scripts.

``price_objection``: long rep monologue, price objection, next step booked.
``competitor``: competitor mention, buying signal (proposal request), next step.
Regenerate with ``python -m plugin.demo_calls.make_demo_calls``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plugin.coach.types import Turn

HERE = Path(__file__).resolve().parent
NAMES = ("price_objection", "competitor")


def demo_call_names() -> list[str]:
    return [n for n in NAMES if (HERE / f"{n}.wav").is_file()]


def demo_call_audio(name: str) -> Path:
    """Path of the call's stereo 16 kHz WAV."""
    if name not in NAMES:
        raise KeyError(f"unknown demo call {name!r}; known: {', '.join(NAMES)}")
    return HERE / f"{name}.wav"


def demo_call_script(name: str) -> dict[str, Any]:
    """The script JSON: title, moments, duration_ms, turns [{speaker, text, start_ms, end_ms}]."""
    demo_call_audio(name)
    data: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text())
    return data


def demo_call_turns(name: str) -> list[Turn]:
    """The script as coach ``Turn``s (reference transcript, no word times)."""
    return [Turn(seq=i, speaker=t["speaker"], text=t["text"], start_ms=t["start_ms"],
                 end_ms=t["end_ms"])
            for i, t in enumerate(demo_call_script(name)["turns"])]
