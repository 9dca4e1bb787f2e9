"""The judge: shipped weights and thresholds fit the corpus, lines are read in context, and
bad input gets a clear result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from plugin.coach import Playbook, analyse_transcript, analyse_utterance
from plugin.coach.analysers.corpus import TASKS, training_rows
from plugin.coach.analysers.features import BOW_DIM, Context, bag_of_words, names_in, windows
from plugin.coach.analysers.judge import (
    THRESHOLDS_PATH,
    JudgeConfig,
    default_digest,
    fit_softmax,
    load_weights,
)
from plugin.coach.utterance import analyse_with, detector_for
from plugin.nlp.embeddings import Embedder


@pytest.mark.parametrize("mode", ["embeddings", "lexical"])
def test_shipped_weights_and_thresholds_were_calibrated_on_this_corpus(mode: str) -> None:
    """``salescoach coach calibrate`` must be re-run when the training corpus changes."""
    digest = default_digest(mode)
    weights = load_weights(mode)
    assert weights is not None and weights.digest == digest
    assert set(weights.models) == set(TASKS)
    stored = json.loads(THRESHOLDS_PATH.read_text())[mode]
    assert stored["digest"] == digest
    for task in TASKS:
        assert 0.0 < stored["detect"][task] < 1.0
        assert 0.0 < stored["nudge"][task] < 1.0
    assert 0.0 < stored["nudge"]["ack_missing"] < 1.0


def test_training_rows_carry_labels_for_every_task() -> None:
    rows = training_rows()
    for task, (speakers, classes) in TASKS.items():
        labelled = [r for r in rows if r.labels.get(task) is not None and r.speaker in speakers]
        assert len(labelled) >= 200, task
        assert {r.labels[task] for r in labelled} <= set(classes)
    assert any(r.context.speaker for r in rows), "scripted calls give context rows"


def test_sparse_and_dense_fits_agree() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((200, 40), np.float32)
    x[:, :10] = rng.normal(size=(200, 10))
    x[np.arange(200), 10 + rng.integers(0, 30, 200)] = 1.0
    y = (x[:, 0] > 0).astype(int)
    cfg = JudgeConfig(steps=30)
    w1, b1 = fit_softmax(x, y, 2, cfg)
    w2, b2 = fit_softmax(x, y, 2, cfg, slice(10, 40))
    assert np.allclose(w1, w2, atol=1e-4) and np.allclose(b1, b2, atol=1e-4)


def test_unknown_vendor_names_are_recognised_and_hashed_as_names(embedder: Embedder) -> None:
    from plugin.coach.analysers.features import vocabulary
    from plugin.nlp.embeddings import model_dir

    md = model_dir()  # the embedding model package carries the vocabulary
    assert md is not None
    vocab = vocabulary(str(md / "vocab.txt"))
    assert "quorvex" in names_in("quorvex gave us a better deal on seats", vocab)
    assert names_in("the price is above our budget", vocab) == []
    a = bag_of_words("quorvex quoted less", vocab)
    b = bag_of_words("zentrali quoted less", vocab)
    assert a.shape == (BOW_DIM,) and np.allclose(a, b)


def test_long_lines_are_read_in_overlapping_windows() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    ws = windows(text)
    assert 2 <= len(ws) <= 4
    assert ws[0].startswith("w0") and ws[-1].endswith("w99")


def test_context_changes_the_reading_of_an_answer(pb: Playbook) -> None:
    """The same words after a rep's open question are an answer (a pain to explore), on
    their own they may read as resistance; the context features are what differs."""
    det = detector_for(pb)
    line = "honestly we just dont have the people to chase every renewal right now"
    alone = analyse_with(det, line, "customer")
    after = analyse_with(det, line, "customer",
                         context=Context("rep", "open", None, False))
    assert alone.detection is not None and after.detection is not None
    assert alone.detection.verdict is not None and after.detection.verdict is not None
    assert alone.detection.verdict.probs != after.detection.verdict.probs


@pytest.mark.parametrize("text", ["", "   ", "?!", "budget " * 10_000,
                                  "no sé si tenemos presupuesto para esto este año",
                                  "wir haben dafür im moment leider kein budget"])
def test_bad_input_gets_a_clear_result_not_an_exception(pb: Playbook, text: str) -> None:
    for speaker in ("customer", "rep"):
        a = analyse_utterance(text, speaker, pb)
        assert a.to_dict()["language"] in ("en", "unsupported")
        if not any(c.isalnum() for c in text):
            assert a.moments == [] and a.objection is None
        if "tenemos" in text or "wir" in text:
            assert a.language == "unsupported" and a.moments == []


def test_non_english_turns_say_language_not_supported(pb: Playbook) -> None:
    a = analyse_utterance("nous avons déjà un outil pour ça et il marche très bien",
                          "customer", pb)
    assert a.language == "unsupported" and a.objection is None and a.moments == []
    assert a.to_dict()["language"] == "unsupported"


def test_whole_transcript_returns_moments_per_turn_with_confidence(pb: Playbook) -> None:
    turns = [
        {"speaker": "rep", "text": "What made you take this call today?", "start_ms": 0,
         "end_ms": 2000},
        {"speaker": "customer", "text": "Honestly the price you sent is way above what we "
         "budgeted for this year.", "start_ms": 2600, "end_ms": 6000},
        {"speaker": "rep", "text": "That's fair, thanks for being straight with me. What "
         "number did you have in mind?", "start_ms": 7400, "end_ms": 10000},
    ]
    out = analyse_transcript(turns, pb)
    assert [t.seq for t in out.turns] == [0, 1, 2]
    assert out.turns[0].question != "none"
    for t in out.turns:
        for m in t.moments:
            assert 0.0 <= m.confidence <= 1.0
    assert out.to_dict()["report"]["claims"]
    with pytest.raises(ValueError, match="turn 0: speaker"):
        analyse_transcript([{"speaker": "bot", "text": "hi"}], pb)
