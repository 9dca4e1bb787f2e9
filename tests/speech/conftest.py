"""Speech test audio, spoken by espeak-ng and assembled with sox (both Debian packages)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REP_TEXT = "Thanks for taking the time today. I wanted to walk you through our new platform."
CUSTOMER_TEXT = "That sounds interesting, but honestly the price is too high for us."


def speak(text: str, voice: str, out: Path, *, rate: int = 16000, speed: int = 150) -> Path:
    """espeak-ng → mono PCM16 WAV at ``rate``."""
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(out)], check=True)
    raw.unlink()
    return out


def silence(seconds: float, out: Path, rate: int = 16000) -> Path:
    subprocess.run(["sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(out), "trim", "0",
                    str(seconds)], check=True)
    return out


def duration(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True,
                                text=True).stdout)


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def rep_wav(audio_dir: Path) -> Path:
    return speak(REP_TEXT, "en-us", audio_dir / "rep.wav")


@pytest.fixture(scope="session")
def customer_wav(audio_dir: Path) -> Path:
    return speak(CUSTOMER_TEXT, "en-us+f3", audio_dir / "customer.wav")


@pytest.fixture(scope="session")
def stereo_call(audio_dir: Path, rep_wav: Path, customer_wav: Path) -> Path:
    """Rep speaks on the left, then (after a pause) the customer on the right."""
    rep_len, cust_len = duration(rep_wav), duration(customer_wav)
    gap = silence(1.0, audio_dir / "gap.wav")
    left = audio_dir / "left.wav"
    right = audio_dir / "right.wav"
    subprocess.run(["sox", str(rep_wav), str(gap), str(silence(cust_len, audio_dir / "s1.wav")),
                    str(left)], check=True)
    subprocess.run(["sox", str(silence(rep_len, audio_dir / "s2.wav")), str(gap),
                    str(customer_wav), str(right)], check=True)
    out = audio_dir / "call.wav"
    subprocess.run(["sox", "-M", str(left), str(right), str(out)], check=True)
    return out
