"""Prototype matrices are stored on disk so later processes skip the encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugin.nlp.embeddings import Embedder

pytestmark = pytest.mark.skipif(not Embedder.available(), reason="model package not installed")


def test_stored_matrix_equals_fresh_encoding_and_is_reused(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESCOACH_CACHE_DIR", str(tmp_path))
    texts = ["The price is above our budget.", "Let's book a demo next Tuesday."]
    emb = Embedder.get()
    first = emb.encode_stored(texts)
    files = list(tmp_path.glob("embeddings-*.npy"))
    assert len(files) == 1
    assert np.allclose(first, emb.encode(texts))
    np.save(files[0], first * 0 + 1)  # prove the second call reads the file, not the model
    assert np.all(emb.encode_stored(texts) == 1)


def test_changed_texts_get_their_own_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESCOACH_CACHE_DIR", str(tmp_path))
    emb = Embedder.get()
    emb.encode_stored(["one sentence"])
    emb.encode_stored(["one sentence", "and another"])
    assert len(list(tmp_path.glob("embeddings-*.npy"))) == 2


def test_unwritable_store_still_encodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SALESCOACH_CACHE_DIR", str(blocker / "sub"))
    out = Embedder.get().encode_stored(["still works"])
    assert out.shape == (1, 384)
