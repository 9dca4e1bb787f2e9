"""Regenerate the demo calls: two-voice sales calls spoken by espeak-ng, assembled as stereo WAV.

Each call is defined below as turns (speaker, text). Every turn is spoken by espeak-ng
(rep: ``en-us+m3``, customer: ``en-us+f2``), resampled to 16 kHz with sox, trimmed of
espeak's leading/trailing silence and placed on its speaker's channel (left = rep,
right = customer) after a short pause. The script JSON written beside each WAV records what
was said and exactly when (``start_ms``/``end_ms`` of the speech), so it is the reference
transcript for WER and the timeline for the AssemblyAI dev server's script backend.

Usage: ``python -m plugin.demo_calls.make_demo_calls [--out DIR]`` (needs espeak-ng and sox).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATE = 16000
VOICES = {"rep": ("en-us+m3", 160), "customer": ("en-us+f2", 150)}  # espeak voice, words/min
PAUSE_MS = 700  # silence between turns

@dataclass(frozen=True)
class DemoCallSpec:
    title: str
    moments: list[str]
    turns: list[tuple[str, str]]  # (speaker, text)


CALLS: dict[str, DemoCallSpec] = {
    "price_objection": DemoCallSpec(
        title="Discovery call with a price objection and a booked follow-up",
        moments=["long rep monologue", "price objection", "next step"],
        turns=[
            ("rep", "Hello, thanks for making the time today. How are things going with the "
                    "customer success team?"),
            ("customer", "It is busy, to be honest. We are losing a few accounts every month, and "
                         "we do not really know why."),
            ("rep", "That is exactly the problem we solve. Our platform pulls data from your "
                    "CRM, your support tickets and your product usage, and turns it into a "
                    "health score for every account. Your team sees which accounts are at "
                    "risk weeks before they leave, and every score explains why. Most teams "
                    "are up and running in three weeks, and they do not need an admin to run "
                    "it. It also connects to your CRM in both directions, so your account "
                    "managers always work from fresh data."),
            ("customer", "It sounds useful, but honestly the price is more than we were "
                         "planning to spend."),
            ("rep", "I understand. What does losing one account cost you today?"),
            ("customer", "Probably around forty thousand dollars a year."),
            ("rep", "So keeping just two more accounts would pay for the whole platform. Can "
                    "we schedule a follow up meeting with your team next Tuesday?"),
            ("customer", "Yes, that works for me."),
        ],
    ),
    "competitor": DemoCallSpec(
        title="Evaluation call with a competitor mention and a proposal request",
        moments=["competitor mention", "buying signal", "next step"],
        turns=[
            ("rep", "Good morning, thanks for joining. What made you look at customer success "
                    "tools this quarter?"),
            ("customer", "We have been growing fast, and our old spreadsheet is falling "
                         "apart."),
            ("rep", "That makes sense. How many people are on the team?"),
            ("customer", "There are twelve of us. We are also talking to another vendor, who "
                         "showed us something very similar last week."),
            ("rep", "Thanks for telling me. What did you like about their demo?"),
            ("customer", "The reports looked good, but the setup would take three months."),
            ("rep", "Many teams pick our platform because they want results within a month, "
                    "without hiring an admin. Most customers are up and running in three weeks."),
            ("customer", "That would help a lot. Could you please email us a proposal?"),
            ("rep", "Of course. I will send the proposal and the pricing on Thursday, and "
                    "let us set up a demo with your operations lead."),
        ],
    ),
}


def speak(text: str, speaker: str, workdir: Path) -> np.ndarray:
    """One turn → float32 samples at 16 kHz, espeak's silence trimmed off both ends."""
    voice, speed = VOICES[speaker]
    raw, wav = workdir / "raw.wav", workdir / "turn.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text],
                   check=True)
    subprocess.run(["sox", "-V1", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", "-D", str(wav)],
                   check=True)
    with wave.open(str(wav)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)
    samples /= 32768.0
    voiced = np.nonzero(np.abs(samples) > 0.01)[0]
    return samples[voiced[0]:voiced[-1] + 1] if len(voiced) else samples


def make_call(name: str, out_dir: Path) -> tuple[Path, Path]:
    spec = CALLS[name]
    pieces: list[tuple[str, str, int, np.ndarray]] = []
    cursor = 300  # ms of silence before the first word
    with tempfile.TemporaryDirectory() as tmp:
        for speaker, text in spec.turns:
            samples = speak(text, speaker, Path(tmp))
            pieces.append((speaker, text, cursor, samples))
            cursor += len(samples) * 1000 // RATE + PAUSE_MS
    total = (cursor - PAUSE_MS + 500) * RATE // 1000
    stereo = np.zeros((total, 2), dtype=np.float32)
    turns = []
    for speaker, text, start_ms, samples in pieces:
        first = start_ms * RATE // 1000
        stereo[first:first + len(samples), 0 if speaker == "rep" else 1] = samples
        turns.append({"speaker": speaker, "text": text, "start_ms": start_ms,
                      "end_ms": start_ms + len(samples) * 1000 // RATE})
    out_dir.mkdir(parents=True, exist_ok=True)
    wav_path, json_path = out_dir / f"{name}.wav", out_dir / f"{name}.json"
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(stereo, -1, 32767 / 32768) * 32768).astype("<i2").tobytes())
    script = {"name": name, "title": spec.title, "moments": spec.moments,
              "audio": wav_path.name, "sample_rate": RATE, "channels": {"left": "rep",
                                                                        "right": "customer"},
              "duration_ms": total * 1000 // RATE, "turns": turns}
    json_path.write_text(json.dumps(script, indent=2) + "\n")
    return wav_path, json_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE,
                        help="output folder (default: %(default)s)")
    parser.add_argument("names", nargs="*", default=sorted(CALLS),
                        help="calls to make (default: all)")
    args = parser.parse_args(argv)
    for name in args.names:
        if name not in CALLS:
            parser.error(f"unknown call {name!r}; known: {', '.join(sorted(CALLS))}")
        wav_path, json_path = make_call(name, args.out)
        print(f"{wav_path} ({wav_path.stat().st_size // 1024} kB), {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
