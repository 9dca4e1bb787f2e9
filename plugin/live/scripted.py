"""Scripted two-sided calls spoken by espeak-ng: test and benchmark audio with known words.

``build_call(lines)`` returns stereo 16 kHz PCM16 (left = rep, right = customer) and the
timeline of every line, so a client can stream it and know exactly when each turn's last
sample was sent. A line's ``gap_ms`` overrides the pause before it (negative = it starts
while the previous line is still being spoken: real overlap). ``render(call, kind)`` turns
the stereo call into what reps actually record (``AUDIO_KINDS``): a mono mix, 8 kHz
telephone audio (band-limited to 300–3400 Hz and μ-law coded), and telephone audio with
noise at 10 dB SNR. Needs the ``espeak-ng`` program (Debian package).
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
    gap_ms: int | None = None  # pause before this line (None: the call's gap; < 0: overlap)


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

# A call with what one microphone makes hard: the customer cutting in while the rep is
# still talking, back-to-back lines of one side with only a short pause, short answers.
OVERLAP_CALL: tuple[Line, ...] = (
    Line("rep", "Hi, this is Dana from Acme. Thanks for taking the time today."),
    Line("customer", "Sure, happy to talk. We want to cut our support costs this year."),
    Line("rep", "What does your support team spend most of its time on right now?"),
    Line("customer", "Mostly password resets and billing questions."),
    Line("customer", "About two thousand tickets a month, and it keeps growing.", gap_ms=450),
    Line("rep", "Our platform automates those requests and routes the rest to the right agent, "
         "so your team only sees the hard cases."),
    Line("customer", "Honestly, the price is way too expensive for our budget.", gap_ms=-700),
    Line("rep", "I understand. What budget did you have in mind for this project?"),
    Line("customer", "Ten thousand dollars a year at most."),
    Line("rep", "Okay."),
    Line("rep", "Then let me show you the starter plan next Tuesday.", gap_ms=350),
    Line("customer", "That works for me."),
)

VOICES = {"rep": "en-us", "customer": "en-gb"}
DISTINCT_VOICES = {"rep": "en-us+m3", "customer": "en-us+f2"}  # as in the demo calls
AUDIO_KINDS = ("stereo", "mono", "phone", "phone_noise")


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
               lead_ms: int = 500, tail_ms: int = 1500, voices: dict[str, str] | None = None
               ) -> tuple[np.ndarray, list[Timed]]:
    """Stereo call (n, 2) int16: left rep, right customer; and each line's timing."""
    voices = voices or VOICES
    parts = [synthesize(ln.text, voices[ln.speaker]) for ln in lines]
    starts: list[int] = []
    pos = SAMPLE_RATE * lead_ms // 1000
    for i, (pcm, ln) in enumerate(zip(parts, lines, strict=True)):
        if i:
            gap = gap_ms if ln.gap_ms is None else ln.gap_ms
            pos = max(starts[-1] + SAMPLE_RATE // 2, pos + SAMPLE_RATE * gap // 1000)
        starts.append(pos)
        pos += pcm.size
    total = max(s + p.size for s, p in zip(starts, parts, strict=True)) \
        + SAMPLE_RATE * tail_ms // 1000
    out = np.zeros((total, 2), dtype=np.int16)
    timeline: list[Timed] = []
    for start, pcm, ln in zip(starts, parts, lines, strict=True):
        col = 0 if ln.speaker == "rep" else 1
        out[start:start + pcm.size, col] = np.clip(
            out[start:start + pcm.size, col].astype(np.int32) + pcm, -32768, 32767)
        timeline.append(Timed(ln.speaker, ln.text, start * 1000 // SAMPLE_RATE,
                              (start + pcm.size) * 1000 // SAMPLE_RATE))
    return out, timeline


def phone_band(samples: np.ndarray) -> np.ndarray:
    """16 kHz int16 → what a telephone line delivers: 300–3400 Hz, 8 kHz, μ-law coded."""
    from plugin.live.audio import pcm16_to_ulaw, ulaw_to_pcm16

    x = samples.astype(np.float64)
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    band = np.fft.irfft(spectrum, len(x))[::2]  # band-limited, so decimating by 2 is clean
    pcm = np.clip(np.round(band), -32768, 32767).astype(np.int16)
    return ulaw_to_pcm16(pcm16_to_ulaw(pcm))


def add_noise(samples: np.ndarray, snr_db: float, seed: int = 7) -> np.ndarray:
    """Pink-ish noise at ``snr_db`` below the speech level (RMS of the voiced samples)."""
    rng = np.random.default_rng(seed)
    x = samples.astype(np.float64)
    voiced = np.abs(x) > 0.05 * np.max(np.abs(x), initial=1.0)
    speech_rms = float(np.sqrt(np.mean(x[voiced] ** 2))) if voiced.any() else 1000.0
    white = np.fft.rfft(rng.standard_normal(len(x)))
    f = np.arange(len(white)) + 1.0
    noise = np.fft.irfft(white / np.sqrt(f), len(x))
    noise *= speech_rms / (10 ** (snr_db / 20)) / (float(np.sqrt(np.mean(noise ** 2))) + 1e-12)
    return np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)


def render(call: np.ndarray, kind: str) -> tuple[np.ndarray, int]:
    """The stereo call as one of ``AUDIO_KINDS``: samples ((n, 2) or (n,)) and their rate."""
    if kind == "stereo":
        return call, SAMPLE_RATE
    mono = np.clip(call.astype(np.int32).sum(axis=1), -32768, 32767).astype(np.int16)
    if kind == "mono":
        return mono, SAMPLE_RATE
    if kind == "phone":
        return phone_band(mono), 8000
    if kind == "phone_noise":
        return phone_band(add_noise(mono, 10.0)), 8000
    raise ValueError(f"unknown audio kind {kind!r} ({', '.join(AUDIO_KINDS)})")


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write int16 samples ((n,) mono or (n, 2) stereo) as a PCM16 WAV."""
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return path
