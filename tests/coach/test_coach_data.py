"""The labelled moments set is well-formed, big enough, and kept apart from the playbook."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from plugin.coach import Playbook, analyse_utterance
from plugin.coach.playbook import OBJECTION_TYPES
from plugin.nlp.embeddings import Embedder

DATA = Path(__file__).resolve().parents[1] / "data" / "moments.jsonl"  # held-out test set
TRAIN = Path(__file__).resolve().parents[2] / "plugin" / "coach" / "data" / "moments_train.jsonl"
KINDS = {"competitor", "buying_signal", "next_step", "risky", "negative"}


def _rows(path: Path = DATA) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _norm(t: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", t.lower()).strip()


def _playbook_examples(pb: Playbook) -> list[str]:
    out = [e for o in pb.objections.values() for e in o.examples]
    out += pb.not_objections + pb.buying_signals.examples + pb.next_steps.examples
    out += pb.acknowledgements.examples + [e for c in pb.checklist for e in c.examples]
    return out


def test_labelled_set_is_large_balanced_and_valid() -> None:
    rows = _rows()
    assert len(rows) >= 300
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["speaker"] in ("rep", "customer")
        assert r["objection"] in (None, *OBJECTION_TYPES)
        assert set(r["moments"]) <= KINDS
        assert not (r["speaker"] == "rep" and r["objection"])  # reps don't raise objections
    for t in OBJECTION_TYPES:
        assert sum(r["objection"] == t for r in rows) >= 25
    assert sum(r["speaker"] == "rep" for r in rows) >= 60


def test_no_test_utterance_is_copied_into_the_playbook(pb: Playbook,
                                                       embedder: Embedder) -> None:
    rows = _rows()
    examples = _playbook_examples(pb)
    assert not {_norm(r["text"]) for r in rows} & {_norm(e) for e in examples}
    # and none is a near-copy either (cosine 0.95+ means a reworded duplicate)
    sims = embedder.encode([r["text"] for r in rows]) @ embedder.encode(examples).T
    worst = float(sims.max())
    assert worst < 0.95, worst


@pytest.mark.slow
def test_objection_detection_quality_on_the_labelled_set(pb: Playbook,
                                                         embedder: Embedder) -> None:
    rows = _rows()
    f1 = []
    preds = [analyse_utterance(r["text"], r["speaker"], pb).objection for r in rows]
    for t in OBJECTION_TYPES:
        tp = sum(1 for r, p in zip(rows, preds, strict=True) if r["objection"] == t and p == t)
        fp = sum(1 for r, p in zip(rows, preds, strict=True) if r["objection"] != t and p == t)
        fn = sum(1 for r, p in zip(rows, preds, strict=True) if r["objection"] == t and p != t)
        f1.append(2 * tp / (2 * tp + fp + fn))
    # regression floor under the measured figure (bench/quality.py reports 0.92)
    assert float(np.mean(f1)) >= 0.88
    assert all(p is None for r, p in zip(rows, preds, strict=True) if r["speaker"] == "rep")


def test_training_corpus_is_valid_and_covers_every_class() -> None:
    rows = _rows(TRAIN)
    assert len(rows) >= 500
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["speaker"] in ("rep", "customer")
        assert r["objection"] in (None, *OBJECTION_TYPES)
        assert set(r["moments"]) <= KINDS
        assert not (r["speaker"] == "rep" and r["objection"])
    for t in OBJECTION_TYPES:
        assert sum(r["objection"] == t for r in rows) >= 40, t
    customer_none = [r for r in rows if r["speaker"] == "customer" and not r["objection"]]
    assert sum(not r["moments"] for r in customer_none) >= 100  # look-alikes that aren't
    assert sum("buying_signal" in r["moments"] for r in rows) >= 40
    assert sum("next_step" in r["moments"] for r in rows) >= 20


def _eval_texts() -> list[str]:
    """Every line and call turn of the evaluation sets (ours, independent, and shared/)."""
    root = Path(__file__).resolve().parents[2]
    texts = [r["text"] for r in _rows(DATA)]
    for lines in (root / "tests" / "data" / "eval" / "lines.jsonl",
                  root.parent / "shared" / "eval" / "lines.jsonl"):
        if lines.is_file():
            texts += [r["text"] for r in _rows(lines)]
    for folder in (root / "tests" / "data" / "eval" / "calls",
                   root.parent / "shared" / "eval" / "calls"):
        for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            texts += [t["text"] for t in json.loads(p.read_text())["turns"]]
    return texts


# Encoding ~6,000 training and evaluation lines with the numpy MiniLM takes minutes on a
# fresh machine (cached per text afterwards), more than the suite's per-test default.
@pytest.mark.timeout(1200)
def test_training_corpus_is_kept_apart_from_every_evaluation_set(embedder: Embedder) -> None:
    """The judge is trained on plugin/coach/data only; the evaluation sets are only ever
    measured on. No evaluation line may appear in the training data, nor a near-copy of one
    (cosine 0.95+ with the bundled MiniLM: a reworded duplicate). Only training rows are
    named on failure, so the evaluation text is never read while fixing one."""
    from plugin.coach.analysers.corpus import training_rows

    train = [r.text for r in training_rows()]
    evals = _eval_texts()
    exact = {_norm(t) for t in train} & {_norm(t) for t in evals}
    assert not exact, f"{len(exact)} training rows copy an evaluation line"
    sims = embedder.encode_corpus(train) @ embedder.encode_corpus(evals).T
    near = [train[i] for i in np.flatnonzero(sims.max(axis=1) >= 0.95)]
    assert not near, f"training rows too close to an evaluation line: {near[:5]}"


def test_training_corpus_ships_as_package_data() -> None:
    import tomllib

    from plugin.coach.analysers.corpus import DATA_DIR

    assert TRAIN.resolve().parent == DATA_DIR
    cfg = tomllib.loads((TRAIN.parents[3] / "pyproject.toml").read_text())
    data = cfg["tool"]["setuptools"]["package-data"]
    assert {"data/*.jsonl", "data/*.json", "data/*.npz", "data/calls_train/*.json"} <= set(
        data.get("plugin.coach", []))
