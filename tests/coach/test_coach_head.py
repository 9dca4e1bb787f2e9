"""The trained detector head: deterministic, cached on disk, and it keeps the playbook in play."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugin.coach import Playbook, analyse_utterance, load_playbook
from plugin.coach.analysers import head as H
from plugin.coach.analysers.detector import Detector, prototypes_for
from plugin.nlp.embeddings import Embedder


def test_training_is_deterministic(pb: Playbook, embedder: Embedder) -> None:
    protos = prototypes_for(pb, embedder)
    examples = H.playbook_examples(pb)
    a = H.train(pb, embedder, protos, examples, stored=False)
    b = H.train(pb, embedder, protos, examples, stored=False)
    assert a.classes == b.classes == H.class_names(pb)
    assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b) and np.array_equal(a.v, b.v)


def test_weights_are_stored_on_disk_and_reused(pb: Playbook, embedder: Embedder, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESCOACH_CACHE_DIR", str(tmp_path))
    small = H.load_corpus()[:40]
    monkeypatch.setattr(H, "load_corpus", lambda: small)
    protos = prototypes_for(pb, embedder)
    first = H.trained_head(pb, embedder, protos)
    files = list(tmp_path.glob("head-*.npz"))
    assert len(files) == 1
    with np.load(files[0]) as z:
        stored = {k: z[k] for k in z.files}
    assert np.array_equal(stored["W"], first.W)
    stored["W"] = stored["W"] * 0  # prove the second call reads the file, not a new training
    with files[0].open("wb") as fh:
        np.savez(fh, **stored)
    assert not H.trained_head(pb, embedder, protos).W.any()
    # another corpus (or playbook, or config) is another file
    monkeypatch.setattr(H, "load_corpus", lambda: small[:30])
    H.trained_head(pb, embedder, protos)
    assert len(list(tmp_path.glob("head-*.npz"))) == 2


def test_shared_weights_make_playbook_examples_rules_and_cues_count(pb: Playbook,
                                                                    embedder: Embedder) -> None:
    w = Detector(pb, embedder).head
    assert w is not None
    # objection classes: similarity to the playbook's examples, keyword rule, cue words,
    # similarity to the training examples; all learned to push towards their class
    assert (w.v[:4] > 0.5).all(), w.v
    assert (w.v[[4, 5, 7]] > 0.5).all(), w.v


def test_a_playbook_with_fewer_objection_types_gets_its_own_head(embedder: Embedder) -> None:
    pb = load_playbook("""
objections:
  price:
    examples: ["That's more than we were planning to spend.", "It's out of our price range."]
    nudge: Ask what budget they had in mind
  timing:
    examples: ["Let's revisit this next quarter.", "Now isn't a good time for us."]
    nudge: Ask what has to happen first
""")
    d = Detector(pb, embedder)
    assert d.head is not None
    assert d.head.classes == ["none", "price", "timing", "buying_signal", "next_step"]
    a = analyse_utterance("Honestly that is a lot more money than we can find this year.",
                          "customer", pb)
    assert a.objection == "price"
    a = analyse_utterance("We would rather come back to this after the summer.", "customer", pb)
    assert a.objection == "timing"


def test_reps_never_raise_objections_and_rules_only_mode_has_no_head(pb: Playbook,
                                                                     embedder: Embedder) -> None:
    a = analyse_utterance("Honestly it's too expensive for a team your size.", "rep", pb)
    assert a.objection is None
    assert Detector(pb, None).head is None
    a = analyse_utterance("Honestly it's too expensive for us.", "customer", pb,
                          use_embeddings=False)
    assert a.objection == "price"  # keyword rule
