"""Scripted two-sided calls spoken by espeak-ng: test and benchmark audio with known words.

``build_call(lines)`` returns stereo 16 kHz PCM16 (left = rep, right = customer) and the
timeline of every line, so a client can stream it and know exactly when each turn's last
sample was sent. Needs the ``espeak-ng`` program (Debian package).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plugin.live.audio import SAMPLE_RATE, read_wav_channels


@dataclass(frozen=True, slots=True)
class Line:
    speaker: str  # rep | customer
    text: str


@dataclass(frozen=True, slots=True)
class Timed:
    speaker: str
    text: str
    start_ms: int
    end_ms: int


SALES_CALL: tuple[Line, ...] = (
    Line("rep", "Hi, this is Dana from Acme. Thanks for taking the time today."),
    Line("customer", "Sure, happy to talk. We are looking at ways to cut our support costs."),
    Line("rep", "What does your support team spend most of its time on right now?"),
    Line("customer", "Mostly password resets and billing questions, about two thousand a month."),
    Line("rep", "Our platform automates those requests and routes the rest to the right agent."),
    Line("customer", "Honestly, the price is way too expensive for our budget this year."),
    Line("rep", "I understand. What budget did you have in mind for this project?"),
    Line("customer", "We were thinking about ten thousand dollars a year at most."),
)

VOICES = {"rep": "en-us", "customer": "en-gb"}


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def synthesize(text: str, voice: str, speed: int = 165) -> np.ndarray:
    """Speak ``text`` with espeak-ng; int16 mono at 16 kHz (cached on disk by content)."""
    key = hashlib.sha1(f"{voice}|{speed}|{text}".encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / "salescoach-tts" / f"{key}.wav"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(tmp), text],
                       check=True, capture_output=True, timeout=60)
        tmp.replace(cache)
    chans, _ = read_wav_channels(cache)
    return chans[0]


def build_call(lines: tuple[Line, ...] | list[Line] = SALES_CALL, gap_ms: int = 900,
               lead_ms: int = 500, tail_ms: int = 1500) -> tuple[np.ndarray, list[Timed]]:
    """Stereo call (n, 2) int16: left rep, right customer; and each line's timing."""
    parts: list[tuple[str, np.ndarray]] = [(ln.speaker, synthesize(ln.text, VOICES[ln.speaker]))
                                           for ln in lines]
    gap = SAMPLE_RATE * gap_ms // 1000
    total = SAMPLE_RATE * (lead_ms + tail_ms) // 1000 + sum(p.size for _, p in parts) \
        + gap * max(0, len(parts) - 1)
    out = np.zeros((total, 2), dtype=np.int16)
    pos = SAMPLE_RATE * lead_ms // 1000
    timeline: list[Timed] = []
    for (speaker, pcm), ln in zip(parts, lines, strict=True):
        col = 0 if speaker == "rep" else 1
        out[pos:pos + pcm.size, col] = pcm
        timeline.append(Timed(speaker, ln.text, pos * 1000 // SAMPLE_RATE,
                              (pos + pcm.size) * 1000 // SAMPLE_RATE))
        pos += pcm.size + gap
    return out, timeline


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """Write int16 samples ((n,) mono or (n, 2) stereo) as a 16 kHz WAV."""
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return path
