"""The scripted evaluation calls as audio, through the live pipeline (``bench/quality.py
--audio``).

Each call is spoken with the demo-call voices (espeak-ng: rep ``en-us+m3`` on the left
channel, customer ``en-us+f2`` on the right), with the script's pauses, then streamed by
``salescoach replay --json`` through the live pipeline on the local speech engine. The
pipeline's own nudges are judged against the script's tags (each final is mapped to the
script turn whose audio it falls in), and the transcribed turns, with the speech engine's
word times, go through the coach for moments and the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import wave
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin.coach import Turn, Word  # noqa: E402
from plugin.demo_calls.make_demo_calls import RATE, speak  # noqa: E402


def render(call: dict[str, Any], out: Path) -> list[tuple[int, int]]:
    """Write the call as a stereo WAV; return each script turn's (start_ms, end_ms)."""
    spans: list[tuple[int, int]] = []
    pieces = []
    cursor = 300
    with tempfile.TemporaryDirectory() as tmp:
        for t in call["turns"]:
            cursor += int(t["pause_before_ms"])
            samples = speak(t["text"], t["speaker"], Path(tmp))
            pieces.append((t["speaker"], cursor, samples))
            end = cursor + len(samples) * 1000 // RATE
            spans.append((cursor, end))
            cursor = end
    stereo = np.zeros(((cursor + 800) * RATE // 1000, 2), dtype=np.float32)
    for speaker, start, samples in pieces:
        first = start * RATE // 1000
        stereo[first:first + len(samples), 0 if speaker == "rep" else 1] += samples
    with wave.open(str(out), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(stereo, -1, 32767 / 32768) * 32768).astype("<i2").tobytes())
    return spans


def replay(wav: Path, instance: Path) -> list[dict[str, Any]]:
    """The live pipeline's events for one recording (finals, nudges, …)."""
    env = {**os.environ, "SALESCOACH_INSTANCE_PATH": str(instance)}
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "salescoach"), "replay", str(wav),
                           "--speed", "0", "--json", "--no-post-call"],
                          capture_output=True, text=True, env=env, check=True, timeout=900)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def script_turn_of(start_ms: int, end_ms: int, spans: list[tuple[int, int]]) -> int:
    """The script turn whose audio overlaps [start, end] the most (nearest if none)."""
    best, best_overlap = 0, -1
    for i, (a, z) in enumerate(spans):
        overlap = min(z, end_ms) - max(a, start_ms)
        if overlap > best_overlap:
            best, best_overlap = i, overlap
    return best


def audio_call_metrics(calls: list[dict[str, Any]], facts: dict[str, Any], pb: Any,
                       use_embeddings: bool | None, call_metrics: Callable[..., Any]
                       ) -> dict[str, Any]:
    """``call_metrics`` over transcribed turns, plus the live pipeline's own nudges."""
    from bench.quality import tally_nudges
    from plugin.speech.wer import wer

    transcribed: dict[str, list[Turn]] = {}
    live: Counter[str] = Counter()
    warranted = [0, 0]
    errs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for call in calls:
            wav = Path(tmp) / f"{call['id']}.wav"
            spans = render(call, wav)
            events = replay(wav, Path(tmp) / "instance")
            finals = [e for e in events if e.get("type") == "final"]
            where: dict[int, int] = {}
            texts: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(spans))}
            for f in finals:
                i = script_turn_of(int(f["start_ms"]), int(f.get("end_ms", f["start_ms"])),
                                   spans)
                where[int(f["seq"])] = i
                texts[i].append(f)
            turns = []
            for i, t in enumerate(call["turns"]):
                fs = texts[i]
                words = tuple(Word(str(w["text"]), int(w["start_ms"]), int(w["end_ms"]))
                              for f in fs for w in f.get("words") or ())
                text = " ".join(str(f["text"]) for f in fs).strip() or "…"
                a, z = spans[i]
                if fs:  # the speech engine's times, as the live coach sees them
                    a, z = int(fs[0]["start_ms"]), int(fs[-1]["end_ms"])
                turns.append(Turn(i, t["speaker"], text, a, z, words))
                errs.append(wer(t["text"], text))
            transcribed[call["id"]] = turns
            nudged: dict[int, list[str]] = {}
            for e in events:  # a nudge event names its turn as "seq"
                seq = e.get("turn_seq", e.get("seq"))
                if e.get("type") == "nudge" and seq in where:
                    nudged.setdefault(where[int(seq)], []).append(str(e["rule"]))
            tally_nudges(call, nudged, live, warranted)
    out = call_metrics(calls, facts, pb, use_embeddings, lambda c: transcribed[c["id"]])
    out["live_nudge_precision"] = round(live["right"] / live["judged"], 3) if live["judged"] \
        else 0.0
    out["live_nudges_judged"] = live["judged"]
    out["live_warranted_turns_nudged"] = round(warranted[0] / warranted[1], 3) \
        if warranted[1] else 0.0
    out["wer"] = round(float(np.mean(errs)), 3) if errs else None
    return out
