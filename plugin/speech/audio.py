"""Audio in: decode any container PyAV reads into 16 kHz float32 channels, and PCM helpers.

Decoding goes through ``faster_whisper.decode_audio`` (PyAV, FFmpeg bundled in the wheel), so
wav/mp3/m4a/ogg/webm/flac all work without a system ffmpeg. Anything unreadable becomes a
``ProviderInputError`` with a sentence a user can act on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from plugin.providers.errors import ProviderInputError

SAMPLE_RATE = 16000
MIN_DURATION_S = 0.1  # shorter than this is treated as "no audio"


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """A decoded recording: one float32 array per channel (at most two), 16 kHz."""

    channels: tuple[np.ndarray, ...]
    sample_rate: int = SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.channels[0]) / self.sample_rate if self.channels else 0.0

    @property
    def stereo(self) -> bool:
        return len(self.channels) == 2


WAV_CODECS = {1: "PCM", 2: "MS ADPCM", 3: "IEEE float", 6: "A-law", 7: "μ-law",
              0x11: "IMA ADPCM", 0x31: "GSM 6.10", 0x55: "MP3", 0xFFFE: "extensible"}


def sniff(head: bytes) -> str | None:
    """The audio container of a file from its first bytes (None when not one we accept)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"  # EBML (WebM / Matroska)
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return "mp3"
    return None


def describe_format(path: Path) -> str:
    """What a file claims to be, for error messages: a WAV's codec tag, else its container."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return "unreadable file"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        pos = head.find(b"fmt ")
        if pos >= 0 and len(head) >= pos + 10:
            tag = int.from_bytes(head[pos + 8:pos + 10], "little")
            return f"WAV with codec {WAV_CODECS.get(tag, 'unknown')} (format tag {tag})"
        return "WAV without a format chunk"
    kind = sniff(head)
    return kind.upper() if kind else f"not audio (starts with {head[:8]!r})"


def probe_channels(path: Path) -> int:
    """Number of channels of the first audio stream; ProviderInputError naming the format if
    there is none or FFmpeg has no decoder for it."""
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise ProviderInputError(f"{path.name}: the file has no audio stream")
            stream = container.streams.audio[0]
            if stream.codec_context is None:
                raise ProviderInputError(
                    f"{path.name}: {describe_format(path)} cannot be decoded; "
                    "use wav (PCM, μ-law, A-law, ADPCM, GSM), mp3, m4a, ogg, webm or flac")
            return int(stream.codec_context.channels or 1)
    except ProviderInputError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise ProviderInputError(
            f"{path.name}: not a readable audio file: {describe_format(path)} "
            f"({_reason(exc)}); use wav, mp3, m4a, ogg, webm or flac"
        ) from exc


def load_audio(path: Path | str) -> DecodedAudio:
    """Decode ``path`` to 16 kHz float32; stereo stays two channels (left, right).

    More than two channels are downmixed to mono. Raises ``ProviderInputError`` when the
    file is missing, empty, not audio, or shorter than 0.1 s.
    """
    path = Path(path)
    if not path.is_file():
        raise ProviderInputError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise ProviderInputError(f"{path.name}: the file is empty")
    from faster_whisper import decode_audio  # imported here: it loads CTranslate2

    n_channels = probe_channels(path)
    try:
        if n_channels == 2:
            left, right = decode_audio(str(path), sampling_rate=SAMPLE_RATE, split_stereo=True)
            channels: tuple[np.ndarray, ...] = (left, right)
        else:
            channels = (decode_audio(str(path), sampling_rate=SAMPLE_RATE),)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise ProviderInputError(
            f"{path.name}: the audio could not be decoded ({_reason(exc)})") from exc
    if len(channels[0]) < MIN_DURATION_S * SAMPLE_RATE:
        raise ProviderInputError(f"{path.name}: the file contains no audio (shorter than 0.1 s)")
    return DecodedAudio(channels=channels)


def check_codec(path: Path) -> None:
    """Raise ``ProviderInputError`` naming the format when FFmpeg recognises the file's audio
    stream but has no decoder for its codec (e.g. a WAV with an exotic format tag). A file
    that is merely corrupt passes: its transcription fails later with the reason."""
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            streams = container.streams.audio
            if streams and streams[0].codec_context is None:
                raise ProviderInputError(
                    f"{path.name}: {describe_format(path)} cannot be decoded; use wav (PCM, "
                    "μ-law, A-law, ADPCM, GSM), mp3, m4a, ogg, webm or flac")
    except (av.error.FFmpegError, ValueError, OSError):
        return


def channels_identical(left: np.ndarray, right: np.ndarray) -> bool:
    """True when a "stereo" file carries the same signal twice (a mono recording)."""
    if len(left) != len(right):
        return False
    return bool(np.max(np.abs(left - right), initial=0.0) < 2e-3)


def pcm16_to_float(pcm16: bytes) -> np.ndarray:
    """Little-endian signed 16-bit PCM bytes → float32 in [-1, 1)."""
    if len(pcm16) % 2:
        raise ProviderInputError("PCM16 audio must have an even number of bytes")
    return np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 in [-1, 1] → little-endian PCM16 bytes (clipped)."""
    clipped = np.clip(samples, -1.0, 32767 / 32768)
    return (clipped * 32768.0).astype("<i2").tobytes()


class StreamResampler:
    """Linear-interpolation resampler that keeps its phase across chunks (e.g. 8 kHz → 16 kHz).

    Linear interpolation is enough for speech recognition from telephone audio: the band
    above 4 kHz is empty anyway, and it needs no filter state beyond one sample.
    """

    def __init__(self, src_rate: int, dst_rate: int = SAMPLE_RATE) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise ProviderInputError(f"sample rate must be positive, got {src_rate}")
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._step = src_rate / dst_rate  # source samples per output sample
        self._pos = 0.0  # position of the next output sample, in source samples from _prev
        self._prev: np.ndarray = np.zeros(0, dtype=np.float32)

    def process(self, samples: np.ndarray) -> np.ndarray:
        if self.src_rate == self.dst_rate:
            return samples.astype(np.float32, copy=False)
        data = np.concatenate([self._prev, samples.astype(np.float32, copy=False)])
        if len(data) < 2:
            self._prev = data
            return np.zeros(0, dtype=np.float32)
        last = len(data) - 1  # we can interpolate up to index `last`
        n_out = int(np.floor((last - self._pos) / self._step)) + 1 if self._pos <= last else 0
        if n_out <= 0:
            self._prev = data
            return np.zeros(0, dtype=np.float32)
        idx = self._pos + self._step * np.arange(n_out)
        lo = np.floor(idx).astype(np.int64)
        hi = np.minimum(lo + 1, last)
        frac = (idx - lo).astype(np.float32)
        out = data[lo] * (1.0 - frac) + data[hi] * frac
        next_pos = self._pos + self._step * n_out
        keep_from = int(np.floor(next_pos))
        keep_from = min(keep_from, last)
        self._prev = data[keep_from:]
        self._pos = next_pos - keep_from
        return out.astype(np.float32)


def resample(samples: np.ndarray, src_rate: int, dst_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a whole array (linear interpolation)."""
    return StreamResampler(src_rate, dst_rate).process(samples)


def _reason(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)
    text = (strerror if isinstance(strerror, str) and strerror else str(exc)).strip()
    text = text or type(exc).__name__
    return text.splitlines()[0][:200]
