"""MiniLM run in numpy reproduces sentence-transformers and separates meaning."""

from __future__ import annotations

import numpy as np

from plugin.nlp.embeddings import DIM, Embedder, model_dir, read_safetensors


def test_encode_returns_unit_vectors_of_384_dims(embedder: Embedder) -> None:
    # given two sentences / when encoded
    v = embedder.encode(["Hello there.", "What does onboarding involve?"])
    # then shape, dtype and norms match the contract
    assert v.shape == (2, DIM)
    assert v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_scores_match_the_published_sentence_transformers_example(embedder: Embedder) -> None:
    # given the sentence-transformers documentation's all-MiniLM-L6-v2 search example
    query = embedder.encode(["A man is eating pasta."])
    corpus = embedder.encode(["A man is eating food.", "A man is eating a piece of bread.",
                              "A man is riding a horse.",
                              "A man is riding a white horse on an enclosed ground."])
    # when scored / then we reproduce its published cosine scores
    scores = (query @ corpus.T)[0]
    assert np.allclose(scores, [0.7035, 0.5272, 0.1889, 0.1047], atol=2e-3)


def test_paraphrases_score_high_and_unrelated_sentences_low(embedder: Embedder) -> None:
    v = embedder.encode(["How much does it cost?", "What is the price?",
                         "My cat sleeps on the sofa all afternoon."])
    assert float(v[0] @ v[1]) > 0.7
    assert float(v[0] @ v[2]) < 0.3


def test_repeated_texts_are_encoded_once_and_identically(embedder: Embedder) -> None:
    v = embedder.encode(["same text", "other", "same text"])
    assert np.array_equal(v[0], v[2])


def test_batch_and_single_encodings_agree(embedder: Embedder) -> None:
    texts = ["Short one.", "A considerably longer sentence with many more tokens in it."]
    batch = embedder.encode(texts)
    embedder._cache.clear()
    single = np.vstack([embedder.encode([t]) for t in texts])
    assert np.allclose(batch, single, atol=1e-5)


def test_safetensors_reader_loads_the_bert_weights() -> None:
    path = model_dir()
    assert path is not None and Embedder.available()
    t = read_safetensors(path / "model.safetensors")
    assert t["embeddings.word_embeddings.weight"].shape == (30522, DIM)
    assert t["encoder.layer.5.output.dense.weight"].shape == (DIM, 1536)
