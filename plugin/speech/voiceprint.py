"""Voice embeddings: who is speaking, as a 256-number vector, without torch.

Two embedders share one interface (``embed(audio) -> unit vector``):

- ``ResemblyzerEmbedder`` (default): the GE2E voice encoder whose weights ship inside the
  ``resemblyzer`` package (``pretrained.pt``, 17 MB; installed with ``--no-deps``, since the
  package declares torch). The checkpoint is read here without torch (legacy torch
  serialisation: pickles + raw little-endian storages) and the 3-layer LSTM runs in numpy, on
  resemblyzer's input: a 40-band mel power spectrogram, 25 ms windows every 10 ms, partial
  utterances of 1.6 s whose embeddings are averaged.
- ``MfccEmbedder``: the classical baseline (means and deviations of 20 MFCCs plus deltas,
  standardised), for comparison in the benchmark and as a fallback.

A *voice print* is the normalised mean embedding of someone's speech (``enroll``).
"""

from __future__ import annotations

import importlib.util
import pickle
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s
MIN_SAMPLES = SAMPLE_RATE // 4  # shorter audio gets no embedding


class Embedder(Protocol):
    name: str

    def embed(self, audio: np.ndarray) -> np.ndarray | None:
        """Unit-length embedding of 16 kHz float32 speech; None when too short."""

    def embed_many(self, audios: Sequence[np.ndarray]) -> list[np.ndarray | None]:
        """``embed`` of each (batched where the embedder can)."""


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else v.astype(np.float32)


# Mel spectrogram (librosa's defaults: Hann window, centred frames, Slaney mel scale) --------

def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-9) / min_log_hz)
                    / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Slaney-normalised triangular mel filters, shape (n_mels, n_fft // 2 + 1)."""
    fft_freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_pts = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sr / 2)),
                                     n_mels + 2))
    fdiff = np.diff(mel_pts)
    ramps = mel_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_pts[2:n_mels + 2] - mel_pts[:n_mels])
    return (weights * enorm[:, None]).astype(np.float32)


_MEL = mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def power_spectrum(audio: np.ndarray) -> np.ndarray:
    """|STFT|² with centred 25 ms frames every 10 ms, shape (frames, 201)."""
    x = np.pad(audio.astype(np.float32), (N_FFT // 2, N_FFT // 2))
    n = 1 + (len(x) - N_FFT) // HOP
    if n <= 0:
        return np.zeros((0, N_FFT // 2 + 1), dtype=np.float32)
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    spec = np.fft.rfft(x[idx] * _WINDOW, axis=1)
    return (spec.real ** 2 + spec.imag ** 2).astype(np.float32)


def mel_spectrogram(audio: np.ndarray) -> np.ndarray:
    """resemblyzer's encoder input: mel power (not log), shape (frames, 40)."""
    return power_spectrum(audio) @ _MEL.T


# The GE2E voice encoder ------------------------------------------------------------------------

class _Storage:
    def __init__(self, dtype: str, size: int) -> None:
        self.dtype, self.size = dtype, size
        self.data: np.ndarray | None = None


_STORAGE_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "LongStorage": "<i8",
                   "IntStorage": "<i4", "HalfStorage": "<f2"}


class _TorchLegacyUnpickler(pickle.Unpickler):
    """Reads a pre-1.6 ``torch.save`` file's object pickle with numpy stand-ins for tensors."""

    def __init__(self, f: Any, storages: dict[str, _Storage]) -> None:
        super().__init__(f)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in the checkpoint")

    def persistent_load(self, pid: Any) -> Any:
        _kind, storage_type, key, _location, size = pid[:5]
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(_STORAGE_DTYPES[storage_type], int(size))
        return storage


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple[int, ...],
                    stride: tuple[int, ...], *_args: Any) -> Any:
    return ("tensor", storage, offset, tuple(size), tuple(stride))


def load_torch_legacy(path: Path) -> dict[str, Any]:
    """A legacy-format ``torch.save`` checkpoint as nested dicts of numpy arrays."""
    storages: dict[str, _Storage] = {}
    with path.open("rb") as f:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(f)  # noqa: S301 - the package's own bundled checkpoint
        result = _TorchLegacyUnpickler(f, storages).load()
        keys = pickle.load(f)  # noqa: S301
        for key in keys:
            storage = storages[key]
            count = int(np.frombuffer(f.read(8), dtype="<i8")[0])
            storage.data = np.frombuffer(f.read(count * np.dtype(storage.dtype).itemsize),
                                         dtype=storage.dtype)

    def convert(obj: Any) -> Any:
        if isinstance(obj, tuple) and len(obj) == 5 and obj[0] == "tensor":
            _, storage, offset, size, stride = obj
            item = storage.data.itemsize
            return np.lib.stride_tricks.as_strided(
                storage.data[offset:], shape=size, strides=tuple(s * item for s in stride)).copy()
        if isinstance(obj, dict):
            return {k: convert(v) for k, v in obj.items()}
        return obj

    return convert(result)


def resemblyzer_weights_path() -> Path:
    """``pretrained.pt`` inside the installed ``resemblyzer`` package (not imported: it needs
    torch)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the resemblyzer package is not installed "
                           "(pip install --no-deps resemblyzer==0.1.4)")
    return Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class ResemblyzerEmbedder:
    """The GE2E encoder (3-layer LSTM, 256 units) in numpy; thread-safe, loaded once."""

    name = "resemblyzer"
    _shared: ResemblyzerEmbedder | None = None
    _lock = threading.Lock()

    def __init__(self, weights: Path | None = None) -> None:
        state = load_torch_legacy(weights or resemblyzer_weights_path())["model_state"]
        self.layers = []
        for i in range(3):
            w_ih = state[f"lstm.weight_ih_l{i}"].astype(np.float32)
            w_hh = state[f"lstm.weight_hh_l{i}"].astype(np.float32)
            bias = (state[f"lstm.bias_ih_l{i}"] + state[f"lstm.bias_hh_l{i}"]).astype(np.float32)
            self.layers.append((np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T), bias))
        self.linear_w = np.ascontiguousarray(state["linear.weight"].T.astype(np.float32))
        self.linear_b = state["linear.bias"].astype(np.float32)

    @classmethod
    def shared(cls) -> ResemblyzerEmbedder:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def forward(self, mels: np.ndarray) -> np.ndarray:
        """Embeddings of a batch of (batch, frames, 40) mel windows → (batch, 256), unit."""
        x = mels.astype(np.float32)
        batch, steps, _ = x.shape
        hidden = np.zeros((batch, 256), dtype=np.float32)
        for w_ih, w_hh, bias in self.layers:
            pre = x @ w_ih + bias  # (batch, steps, 1024): the input part of every step at once
            hidden = np.zeros((batch, 256), dtype=np.float32)
            cell = np.zeros((batch, 256), dtype=np.float32)
            outputs = np.empty((batch, steps, 256), dtype=np.float32)
            for t in range(steps):
                gates = pre[:, t] + hidden @ w_hh
                i = _sigmoid(gates[:, :256])
                f = _sigmoid(gates[:, 256:512])
                g = np.tanh(gates[:, 512:768])
                o = _sigmoid(gates[:, 768:])
                cell = f * cell + i * g
                hidden = o * np.tanh(cell)
                outputs[:, t] = hidden
            x = outputs
        raw = np.maximum(hidden @ self.linear_w + self.linear_b, 0.0)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.maximum(norms, 1e-9)

    @staticmethod
    def _windows(audio: np.ndarray, rate: float = 1.3) -> np.ndarray:
        """resemblyzer's partial utterances: 1.6 s mel windows at ``rate`` per second; audio
        shorter than one window is one (shorter) window."""
        mel = mel_spectrogram(audio)
        if len(mel) <= PARTIAL_FRAMES:
            return mel[None]
        step = int(round(SAMPLE_RATE / rate / HOP))
        starts = list(range(0, len(mel) - PARTIAL_FRAMES + 1, step))
        if len(mel) - (starts[-1] + PARTIAL_FRAMES) > PARTIAL_FRAMES // 4:
            starts.append(len(mel) - PARTIAL_FRAMES)
        return np.stack([mel[s:s + PARTIAL_FRAMES] for s in starts])

    def embed(self, audio: np.ndarray) -> np.ndarray | None:
        return self.embed_many([audio])[0]

    def embed_many(self, audios: Sequence[np.ndarray]) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = [None] * len(audios)
        by_len: dict[int, list[tuple[int, np.ndarray]]] = {}
        for i, audio in enumerate(audios):
            if len(audio) < MIN_SAMPLES:
                continue
            audio = _normalise_level(audio)
            for w in self._windows(audio):
                by_len.setdefault(len(w), []).append((i, w))
        sums: dict[int, np.ndarray] = {}
        for items in by_len.values():  # windows of equal length run as one batch
            embeds = self.forward(np.stack([w for _, w in items]))
            for (i, _), e in zip(items, embeds, strict=True):
                sums[i] = sums.get(i, 0) + e
        for i, total in sums.items():
            out[i] = _unit(total)
        return out


def _normalise_level(audio: np.ndarray, target_dbfs: float = -30.0) -> np.ndarray:
    """resemblyzer raises quiet speech to −30 dBFS (never lowers it)."""
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) + 1e-12
    gain = 10 ** ((target_dbfs - 20 * np.log10(rms)) / 20)
    return audio * gain if gain > 1 else audio


# Classical baseline ------------------------------------------------------------------------------

_MEL26 = mel_filters(26)
_DCT = np.cos(np.pi / 26 * (np.arange(26)[None, :] + 0.5) * np.arange(1, 21)[:, None]).astype(
    np.float32)


class MfccEmbedder:
    """Mean and standard deviation of 20 MFCCs and their deltas over voiced frames (80 values),
    unit length after cepstral mean subtraction across the call is left to the clusterer."""

    name = "mfcc"

    def embed(self, audio: np.ndarray) -> np.ndarray | None:
        if len(audio) < MIN_SAMPLES:
            return None
        power = power_spectrum(audio)
        energy = power.sum(axis=1)
        voiced = energy > np.percentile(energy, 30)
        mfcc = np.log(power[voiced] @ _MEL26.T + 1e-8) @ _DCT.T
        if len(mfcc) < 5:
            return None
        delta = np.diff(mfcc, axis=0)
        return np.concatenate([mfcc.mean(0), mfcc.std(0), delta.mean(0), delta.std(0)]).astype(
            np.float32)

    def embed_many(self, audios: Sequence[np.ndarray]) -> list[np.ndarray | None]:
        return [self.embed(a) for a in audios]


def get_embedder(name: str = "resemblyzer") -> Embedder:
    """``resemblyzer`` (bundled GE2E model) or ``mfcc`` (classical baseline)."""
    if name == "mfcc":
        return MfccEmbedder()
    if name == "resemblyzer":
        return ResemblyzerEmbedder.shared()
    raise ValueError(f"unknown speaker embedder {name!r} (resemblyzer or mfcc)")


def enroll(embedder: Embedder, audios: Sequence[np.ndarray]) -> np.ndarray | None:
    """A voice print: the unit mean embedding of someone's speech clips (None if too short)."""
    embeds = [e for e in embedder.embed_many(audios) if e is not None]
    if not embeds:
        return None
    return _unit(np.mean(embeds, axis=0))


class VoicePrintStore:
    """Voice prints on disk, one small ``.npy`` per (tenant, user): ``<root>/<tenant>/<user>``.

    A print is 256 floats, refreshed as a running mean each time the user is enrolled again
    (so it follows their microphone and line over time).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, tenant_id: str, user_id: int) -> Path:
        import re

        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", tenant_id)
        return self.root / safe / f"{int(user_id)}.npy"

    def load(self, tenant_id: str, user_id: int | None) -> np.ndarray | None:
        if user_id is None:
            return None
        path = self._path(tenant_id, user_id)
        try:
            vector = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        return vector.astype(np.float32) if vector.shape == (256,) else None

    def save(self, tenant_id: str, user_id: int, vector: np.ndarray, weight: float = 0.5) -> None:
        """Store ``vector`` (blended with an earlier print: ``weight`` for the new one)."""
        old = self.load(tenant_id, user_id)
        new = _unit(vector if old is None else weight * vector + (1 - weight) * old)
        path = self._path(tenant_id, user_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, new.astype(np.float32), allow_pickle=False)
        tmp.replace(path)
