"""A trained classification head over MiniLM sentence vectors for customer turns.

Classes: ``none``, every objection type of the playbook, ``buying_signal`` and ``next_step``.
Each sentence unit of a turn is scored by a multinomial logistic regression::

    logit_c = W_c . x  +  b_c  +  v . f_c

``x`` is the unit's sentence vector (384 numbers), three form flags (a question, a negation,
a contrast such as "but") and a hashed bag of its words and word pairs (2,048 buckets,
L2-normalised, scaled). ``f_c`` are class-specific features weighted by ONE vector ``v``
shared by all classes: the top-3 mean similarity to the playbook's examples of class *c*,
whether one of its keyword rules fired, how many of its cue words occur, and the top-3 mean
similarity to the training examples of class *c*. Because ``v`` is shared, a tenant's own
examples and keywords move the decision even for phrasings the training corpus never saw.

Training data: the bundled corpus ``plugin/coach/data/moments_train.jsonl`` (written for
training, kept apart from the held-out test set ``tests/data/moments.jsonl``) plus the
playbook's own examples (objection examples, ``not_objections``, buying signals, next
steps, acknowledgements). Similarity features of a training row leave the row itself out
(its own prototype, its own training example), so ``v`` learns what a similarity to *other*
examples is worth. Fitting is deterministic: zero initialisation, full-batch Adam for a
fixed number of steps, L2 penalty, classes weighted by inverse frequency. Hyperparameters
were chosen by 5-fold cross-validation on the training corpus only (``bench/quality.py
--cv --grid``). Weights are cached on disk next to the prototype matrices, keyed by a hash
of the model, the training texts and labels, the playbook's examples and rules, and the
hyperparameters, so a process start loads them in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from plugin.coach.analysers.mentions import mask_competitors
from plugin.coach.playbook import Playbook
from plugin.coach.text import any_match, clip_words, normalise, pattern
from plugin.nlp.embeddings import _cache_dir

TRAIN_PATH = Path(__file__).resolve().parent.parent / "data" / "moments_train.jsonl"
NONE, BUYING, NEXT = "none", "buying_signal", "next_step"
HEAD_VERSION = 1  # bump when features or training change (invalidates cached weights)
UNIT_WORDS = 40
N_SHARED = 8  # objection classes: knn, rule, cue, bank; moment classes and none: the same four
TOP_K = 3


@dataclass(frozen=True, slots=True)
class HeadConfig:
    """Hyperparameters (chosen by cross-validation on the training corpus, see bench)."""

    l2: float = 1e-4  # penalty on the per-class input weights W
    l2_shared: float = 1e-4  # penalty on the shared feature weights v
    steps: int = 400  # fixed number of Adam steps (also a mild early stop)
    lr: float = 0.05
    balanced: bool = True  # weight classes inversely to their frequency
    shared: bool = True  # use the class-specific (knn, rule, cue) features
    bank: bool = True  # kNN features over the training examples themselves
    surface: bool = True  # question / negation / contrast inputs
    bow: float = 2.0  # scale of the hashed bag-of-words inputs (0: none)


DEFAULT_CONFIG = HeadConfig()


@dataclass(slots=True)
class Example:
    text: str  # as spoken (competitor names are masked when encoded)
    label: str
    from_playbook: bool = False


def load_corpus(path: Path = TRAIN_PATH) -> list[dict[str, Any]]:
    """Rows of the bundled training corpus (same format as the labelled test set)."""
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def row_label(row: dict[str, Any], pb: Playbook) -> str:
    """The head's class for a labelled customer row (an objection type the playbook does
    not coach counts as ``none``)."""
    if row.get("objection"):
        return str(row["objection"]) if row["objection"] in pb.objections else NONE
    moments = row.get("moments") or ()
    if BUYING in moments:
        return BUYING
    if NEXT in moments:
        return NEXT
    return NONE


def corpus_examples(rows: Iterable[dict[str, Any]], pb: Playbook) -> list[Example]:
    """Customer rows of a labelled corpus as training examples (reps never object)."""
    return [Example(r["text"], row_label(r, pb)) for r in rows if r["speaker"] == "customer"]


def playbook_examples(pb: Playbook) -> list[Example]:
    out = [Example(e, name, True) for name, o in pb.objections.items() for e in o.examples]
    out += [Example(e, NONE, True) for e in pb.not_objections]
    out += [Example(e, NONE, True) for e in pb.acknowledgements.examples]
    out += [Example(e, BUYING, True) for e in pb.buying_signals.examples]
    out += [Example(e, NEXT, True) for e in pb.next_steps.examples]
    return out


def class_names(pb: Playbook) -> list[str]:
    return [NONE, *pb.objections, BUYING, NEXT]


def encode_text(text: str, pb: Playbook) -> str:
    """What the encoder sees for a training row: normalised, competitors masked, clipped."""
    return clip_words(mask_competitors(normalise(text), pb), UNIT_WORDS)


def proto_groups(pb: Playbook) -> dict[str, str]:
    """Class -> the Prototypes group whose similarity is its knn feature."""
    out = {NONE: "none", BUYING: "buying_signal", NEXT: "next_step"}
    out.update({n: f"objection:{n}" for n in pb.objections})
    return out


def topk_mean(sims: np.ndarray, idx: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Per row of ``sims``, the mean of the ``k`` highest similarities among columns ``idx``."""
    if idx.size == 0:
        return np.zeros(sims.shape[0], dtype=np.float32)
    sub = sims[:, idx]
    kk = min(k, sub.shape[1])
    return np.asarray(np.partition(sub, sub.shape[1] - kk, axis=1)[:, sub.shape[1] - kk:]
                      .mean(axis=1))


def shared_features(pb: Playbook, protos: Any, sims: np.ndarray, t: str,
                    bank_sims: np.ndarray | None = None,
                    bank_labels: np.ndarray | None = None) -> np.ndarray:
    """(units, classes, N_SHARED) class-specific features for the units of one turn ``t``
    (normalised text): ``sims`` are the units' similarities to every playbook prototype,
    ``bank_sims`` to every training example (labels ``bank_labels``, class indices)."""
    names = class_names(pb)
    groups = proto_groups(pb)
    out = np.zeros((sims.shape[0], len(names), N_SHARED), dtype=np.float32)
    for j, c in enumerate(names):
        knn = protos.topk(sims, groups[c])
        bank = (topk_mean(bank_sims, np.flatnonzero(bank_labels == j))
                if bank_sims is not None and bank_labels is not None else 0.0)
        if c in pb.objections:
            obj = pb.objections[c]
            rule = 1.0 if any_match(obj.keywords, t) else 0.0
            cue = min(2, sum(1 for p in obj.cues if pattern(p).search(t))) / 2.0
            out[:, j, 0], out[:, j, 1], out[:, j, 2], out[:, j, 3] = knn, rule, cue, bank
        else:
            rules = {BUYING: pb.buying_signals.keywords, NEXT: pb.next_steps.keywords}.get(c, [])
            out[:, j, 4] = knn
            out[:, j, 5] = 1.0 if rules and any_match(rules, t) else 0.0
            out[:, j, 7] = bank
    return out


_QUESTION = re.compile(r"\?\s*$|^(what|how|why|when|where|who|which|is|are|do|does|did|can|"
                       r"could|would|will|should|shall)\b")
_NEGATION = re.compile(r"\b(not|no|never|nothing|nobody|none|cannot)\b|n't\b")
_CONTRAST = re.compile(r"\b(but|though|although|however|except)\b")
N_SURFACE = 3


def surface(units: Sequence[str]) -> np.ndarray:
    """(units, N_SURFACE) form features of normalised unit texts: a question, a negation,
    a contrast ("but", "though")."""
    out = np.zeros((len(units), N_SURFACE), dtype=np.float32)
    for i, u in enumerate(units):
        u = u.strip()
        out[i] = (bool(_QUESTION.search(u)), bool(_NEGATION.search(u)),
                  bool(_CONTRAST.search(u)))
    return out


BOW_DIM = 2048
_WORD = re.compile(r"[a-z0-9']+")


def bag_of_words(units: Sequence[str], scale: float) -> np.ndarray:
    """(units, BOW_DIM) hashed unigrams and bigrams (crc32, deterministic), L2-normalised
    and multiplied by ``scale``: lexical evidence next to the sentence vector."""
    out = np.zeros((len(units), BOW_DIM), dtype=np.float32)
    for i, u in enumerate(units):
        toks = _WORD.findall(u.lower())
        grams = toks + [a + " " + b for a, b in zip(toks, toks[1:], strict=False)]
        for g in grams:
            out[i, zlib.crc32(g.encode()) % BOW_DIM] += 1.0
        n = float(np.linalg.norm(out[i]))
        if n:
            out[i] *= scale / n
    return out


@dataclass(slots=True)
class HeadWeights:
    classes: list[str]
    W: np.ndarray  # (384 [+ N_SURFACE], C)
    b: np.ndarray  # (C,)
    v: np.ndarray  # (N_SHARED,)
    bank: np.ndarray | None = None  # (n, 384) training vectors for the bank-kNN features
    bank_labels: np.ndarray | None = None  # (n,) their class indices
    surface: bool = False
    bow: float = 0.0

    def features(self, pb: Playbook, protos: Any, x: np.ndarray, sims: np.ndarray,
                 t: str) -> np.ndarray:
        bank_sims = x @ self.bank.T if self.bank is not None else None
        return shared_features(pb, protos, sims, t, bank_sims, self.bank_labels)

    def inputs(self, x: np.ndarray, units: Sequence[str]) -> np.ndarray:
        """The per-class inputs: the vectors, plus form features and the bag of words when
        the head uses them."""
        return head_inputs(x, units, self.surface, self.bow)

    def proba(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Class probabilities (n, C) for inputs ``x`` (see ``inputs``) and features ``f``."""
        z = x @ self.W + self.b + f @ self.v
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit(x: np.ndarray, f: np.ndarray, y: np.ndarray, n_classes: int,
        cfg: HeadConfig = DEFAULT_CONFIG) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch Adam from zeros (deterministic)."""
    n, d = x.shape
    x = x.astype(np.float64)
    f = f.astype(np.float64) if cfg.shared else np.zeros_like(f, dtype=np.float64)
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    if cfg.balanced:
        counts = np.maximum(onehot.sum(0), 1.0)
        sw = (n / (n_classes * counts))[y]
    else:
        sw = np.ones(n)
    sw = sw / sw.sum()
    params = [np.zeros((d, n_classes)), np.zeros(n_classes), np.zeros(f.shape[2])]
    m = [np.zeros_like(p) for p in params]
    s = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, cfg.steps + 1):
        W, b, v = params
        z = x @ W + b + f @ v
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) * sw[:, None]  # d loss / d logits
        grads = [x.T @ g + cfg.l2 * W, g.sum(0), np.einsum("nc,nck->k", g, f) + cfg.l2_shared * v]
        for i, gr in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * gr
            s[i] = b2 * s[i] + (1 - b2) * gr * gr
            mh = m[i] / (1 - b1 ** step)
            sh = s[i] / (1 - b2 ** step)
            params[i] = params[i] - cfg.lr * mh / (np.sqrt(sh) + eps)
    W, b, v = params
    if not cfg.shared:
        v = np.zeros_like(v)
    return W.astype(np.float32), b.astype(np.float32), v.astype(np.float32)


def head_inputs(x: np.ndarray, units: Sequence[str], use_surface: bool,
                bow: float) -> np.ndarray:
    parts = [x]
    if use_surface:
        parts.append(surface(units))
    if bow:
        parts.append(bag_of_words(units, bow))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else x


def texts_for(pb: Playbook, examples: Sequence[Example]) -> list[str]:
    return [encode_text(e.text, pb) for e in examples]


def training_matrices(pb: Playbook, embedder: Any, protos: Any, examples: Sequence[Example],
                      *, stored: bool = True, bank: bool = True
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectors, shared features and class indices. Leave-one-out: a playbook example's own
    prototype and every example's own bank row are left out of its similarity features."""
    names = class_names(pb)
    texts = [encode_text(e.text, pb) for e in examples]
    x = embedder.encode_stored(texts) if stored else embedder.encode(texts)
    y = np.array([names.index(e.label) for e in examples], dtype=int)
    sims = x @ protos.matrix.T
    bank_sims = x @ x.T if bank else None
    proto_keys = np.array([normalise(t) for t in protos.texts])
    f = np.zeros((len(examples), len(names), N_SHARED), dtype=np.float32)
    for i, (ex, text) in enumerate(zip(examples, texts, strict=True)):
        row = sims[i : i + 1].copy()
        if ex.from_playbook:
            row[0, proto_keys == normalise(text)] = -1.0
        brow = None
        if bank_sims is not None:
            brow = bank_sims[i : i + 1].copy()
            brow[0, i] = -1.0
        f[i] = shared_features(pb, protos, row, normalise(ex.text), brow, y)[0]
    return x, f, y


def train(pb: Playbook, embedder: Any, protos: Any, examples: Sequence[Example],
          cfg: HeadConfig = DEFAULT_CONFIG, *, stored: bool = True) -> HeadWeights:
    names = class_names(pb)
    x, f, y = training_matrices(pb, embedder, protos, examples, stored=stored, bank=cfg.bank)
    xin = head_inputs(x, texts_for(pb, examples), cfg.surface, cfg.bow)
    W, b, v = fit(xin, f, y, len(names), cfg)
    return HeadWeights(names, W, b, v, bank=x.astype(np.float32) if cfg.bank else None,
                       bank_labels=y if cfg.bank else None, surface=cfg.surface, bow=cfg.bow)


def _digest(pb: Playbook, embedder: Any, examples: Sequence[Example], cfg: HeadConfig) -> str:
    h = hashlib.sha256(f"head-v{HEAD_VERSION}:{getattr(embedder, '_model_id', '')}".encode())
    h.update(repr(cfg).encode())
    for e in examples:
        h.update(f"{e.label}\x01{int(e.from_playbook)}\x01{e.text}\x00".encode())
    rules = {n: (o.keywords, o.cues) for n, o in pb.objections.items()}
    rules["_moments"] = (pb.buying_signals.keywords, pb.next_steps.keywords)
    h.update(json.dumps(rules, sort_keys=True).encode())
    h.update(json.dumps([c.name for c in pb.competitors] + [a for c in pb.competitors
                                                            for a in c.aliases]).encode())
    return h.hexdigest()[:32]


def trained_head(pb: Playbook, embedder: Any, protos: Any,
                 cfg: HeadConfig = DEFAULT_CONFIG) -> HeadWeights:
    """The head for ``pb``: loaded from the disk cache, or trained (seconds) and stored."""
    examples = corpus_examples(load_corpus(), pb) + playbook_examples(pb)
    names = class_names(pb)
    path = _cache_dir() / f"head-{_digest(pb, embedder, examples, cfg)}.npz"
    try:
        with np.load(path) as z:
            has_bank = "bank" in z.files
            w = HeadWeights(names, z["W"], z["b"], z["v"],
                            bank=z["bank"] if has_bank else None,
                            bank_labels=z["bank_labels"] if has_bank else None,
                            surface=cfg.surface, bow=cfg.bow)
        rows = (protos.matrix.shape[1] + (N_SURFACE if cfg.surface else 0)
                + (BOW_DIM if cfg.bow else 0))
        if w.W.shape == (rows, len(names)) and w.v.shape == (N_SHARED,):
            return w
    except (OSError, ValueError, KeyError):
        pass
    w = train(pb, embedder, protos, examples, cfg)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            if w.bank is not None and w.bank_labels is not None:
                np.savez(fh, W=w.W, b=w.b, v=w.v, bank=w.bank, bank_labels=w.bank_labels)
            else:
                np.savez(fh, W=w.W, b=w.b, v=w.v)
        os.replace(tmp, path)  # atomic: concurrent writers never leave a torn file
    except OSError:
        pass
    return w


_HEADS: dict[tuple[int, int], tuple[Playbook, HeadWeights]] = {}
_LOCK = threading.Lock()


def head_for(pb: Playbook, embedder: Any, protos: Any) -> HeadWeights:
    """Per-process cache of :func:`trained_head` per (playbook, embedder) object."""
    key = (id(pb), id(embedder))
    hit = _HEADS.get(key)
    if hit is not None and hit[0] is pb:
        return hit[1]
    with _LOCK:
        hit = _HEADS.get(key)
        if hit is not None and hit[0] is pb:
            return hit[1]
        w = trained_head(pb, embedder, protos)
        if len(_HEADS) >= 32:
            _HEADS.pop(next(iter(_HEADS)))
        _HEADS[key] = (pb, w)
        return w
