"""Audio helpers for live sources: G.711 μ-law/A-law decoding, resampling, levels, reading
recordings of any format (PyAV) as 16 kHz PCM16 channels."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
BYTES_PER_MS = SAMPLE_RATE * 2 // 1000  # PCM16 mono at 16 kHz: 32 bytes per millisecond


def _ulaw_table() -> np.ndarray:
    """The 256-entry G.711 μ-law → linear PCM16 table (ITU-T G.711, as Twilio sends it)."""
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


ULAW_TABLE = _ulaw_table()


def ulaw_to_pcm16(data: bytes) -> np.ndarray:
    """Decode μ-law bytes to int16 samples with one table lookup."""
    return ULAW_TABLE[np.frombuffer(data, dtype=np.uint8)]


def _alaw_table() -> np.ndarray:
    """The 256-entry G.711 A-law → linear PCM16 table."""
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8,
                         ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


ALAW_TABLE = _alaw_table()


def alaw_to_pcm16(data: bytes) -> np.ndarray:
    """Decode A-law bytes (European telephony) to int16 samples."""
    return ALAW_TABLE[np.frombuffer(data, dtype=np.uint8)]


def pcm16_to_ulaw(samples: np.ndarray) -> bytes:
    """Encode int16 samples to μ-law (G.711, as a telephone network would); tests and the
    benchmark use it to act as Twilio."""
    v = samples.astype(np.int32) >> 2
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.abs(v), 8159) + 0x21
    seg = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), v)
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((v >> (seg + 1)) & 0x0F))
    return (uval ^ mask).astype(np.uint8).tobytes()


def resample(samples: np.ndarray, src_rate: int, dst_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Linear-interpolation resampling of int16 mono audio (8 kHz phone → 16 kHz).

    Upsampling telephone audio adds no information, so linear interpolation is as good as
    a polyphase filter for speech recognition and costs a fraction of it per frame.
    """
    if src_rate == dst_rate or samples.size == 0:
        return samples.astype(np.int16, copy=False)
    n_out = int(round(samples.size * dst_rate / src_rate))
    x_old = np.arange(samples.size, dtype=np.float64)
    x_new = np.arange(n_out, dtype=np.float64) * (src_rate / dst_rate)
    out = np.interp(x_new, x_old, samples.astype(np.float64))
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def _halfband(taps: int = 47) -> np.ndarray:
    """Windowed-sinc low-pass at a quarter of the output rate (×2 for zero stuffing)."""
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(n / 2) * np.blackman(taps)
    return (2 * h / h.sum()).astype(np.float64)


class Upsampler2x:
    """Band-limited ×2 upsampling (8 → 16 kHz telephone audio) that keeps its filter state
    across chunks, so 20 ms packets join without clicks. Linear interpolation mirrors the
    0–4 kHz band into 4–8 kHz; voice embeddings (speaker identification) and, a little, the
    recogniser suffer from those images. Output lags the input by 23 samples (1.4 ms)."""

    TAPS = _halfband()

    def __init__(self) -> None:
        self._tail = np.zeros(len(self.TAPS) - 1, dtype=np.float64)

    def process(self, samples: np.ndarray) -> np.ndarray:
        if samples.size == 0:
            return samples.astype(np.int16)
        stuffed = np.zeros(samples.size * 2, dtype=np.float64)
        stuffed[::2] = samples
        data = np.concatenate([self._tail, stuffed])
        self._tail = data[-(len(self.TAPS) - 1):]
        out = np.convolve(data, self.TAPS, mode="valid")
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def louder_than(pcm16: bytes, dbfs: float) -> bool:
    """Whether a PCM16 chunk's RMS level is above ``dbfs`` (cheap: runs per audio frame)."""
    x = np.frombuffer(pcm16, dtype=np.int16).astype(np.float32)
    threshold = (10.0 ** (dbfs / 20.0) * 32768.0) ** 2
    return bool(x.size) and float(x @ x) > threshold * x.size


def read_audio_channels(path: Path) -> tuple[list[np.ndarray], int]:
    """Channels (at most two) of any recording FFmpeg decodes (WAV in PCM, μ-law, A-law,
    ADPCM or GSM; MP3, M4A, OGG, WebM, FLAC), as int16 at 16 kHz, and the original rate.

    Raises ``ProviderInputError`` naming the format when it cannot be read.
    """
    import av

    from plugin.speech.audio import float_to_pcm16, load_audio

    decoded = load_audio(path)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            rate = int(container.streams.audio[0].rate or SAMPLE_RATE)
    except (av.error.FFmpegError, IndexError):
        rate = SAMPLE_RATE
    chans = [np.frombuffer(float_to_pcm16(ch), dtype="<i2") for ch in decoded.channels]
    return chans, rate


def read_wav_channels(path: Path) -> tuple[list[np.ndarray], int]:
    """Channels of a PCM WAV as int16 arrays resampled to 16 kHz, and the original rate.

    Accepts 8/16/24/32-bit integer PCM, any rate, mono or stereo (more channels: first two).
    """
    with wave.open(str(path), "rb") as w:
        n_ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        raw = w.readframes(n)
    if width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8
    elif width == 2:
        data = np.frombuffer(raw, dtype="<i2")
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        data = ((b[:, 2].astype(np.int32) << 24 | b[:, 1].astype(np.int32) << 16
                 | b[:, 0].astype(np.int32) << 8) >> 16).astype(np.int16)
    elif width == 4:
        data = (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
    else:
        raise ValueError(f"unsupported sample width {width} bytes")
    frames = data.reshape(-1, n_ch)
    chans = [resample(np.ascontiguousarray(frames[:, i]), rate) for i in range(min(n_ch, 2))]
    return chans, rate
