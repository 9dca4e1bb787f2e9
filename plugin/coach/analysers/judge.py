"""The judge: one small calibrated classifier per moment, over a line and the turn before it.

Tasks (``corpus.TASKS``): objection type (customer), buying signal (customer), next step
(both), risky language (rep), acknowledgement (rep) and question kind (both). Each is a
softmax regression over the same input::

    x = [sentence vectors (whole line, max over windows) | hashed words | form, rule,
         shape and context features | similarity to the playbook's examples per class]

so the decision uses meaning (MiniLM), wording (words and word pairs, names as ``<name>``),
form (a question without its "?", a negation, a deadline), the playbook (a tenant's
keywords and examples move the decision) and the turn before (a pain statement answering
the rep's question is not an objection). Without the model the same tasks run on the
lexical part alone (``embeddings=False``).

Probabilities are the confidences moments carry. Two thresholds per task come from 5-fold
cross-validation on the training corpus only (``salescoach coach calibrate``, stored in
``data/judge_thresholds.json``): ``detect`` (best F1) and ``nudge`` (precision >= 0.90).
Training is deterministic (zero init, full-batch Adam, fixed steps) and cached on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from plugin.coach.analysers import features as F
from plugin.coach.analysers.corpus import DATA_DIR, TASKS, Row, training_rows
from plugin.coach.analysers.language import find_risky
from plugin.coach.analysers.mentions import mask_competitors
from plugin.coach.playbook import OBJECTION_TYPES, Playbook
from plugin.coach.text import normalise
from plugin.nlp.embeddings import model_dir

log = logging.getLogger(__name__)

JUDGE_VERSION = 4  # bump when features or training change (invalidates cached weights)
THRESHOLDS_PATH = DATA_DIR / "judge_thresholds.json"
KNN_GROUPS = (*(f"objection:{t}" for t in OBJECTION_TYPES), "none", "buying_signal",
              "next_step", "ack")
TOP_K = 3
EMB_DIM = 768  # whole-line vector + max over windows


@dataclass(frozen=True, slots=True)
class JudgeConfig:
    """Training hyperparameters (chosen by cross-validation on the training corpus)."""

    l2: float = 3e-4
    steps: int = 300
    lr: float = 0.05
    bow: float = 1.5
    lex: float = 0.3  # scale of the form, rule, shape and context features
    balanced: bool = True


DEFAULT_CONFIG = JudgeConfig()


@dataclass(slots=True)
class TaskModel:
    classes: tuple[str, ...]
    W: np.ndarray  # (d, C)
    b: np.ndarray  # (C,)

    def proba(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.W + self.b
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))


class SparseBlock:
    """A column block of mostly zeros (the hashed words) as (row, column, value) triples:
    products with it cost its non-zeros, not its width."""

    def __init__(self, x: np.ndarray) -> None:
        self.n, self.d = x.shape
        self.rows, self.cols = np.nonzero(x)
        self.vals = x[self.rows, self.cols].astype(np.float64)

    def dot(self, w: np.ndarray) -> np.ndarray:
        """(n, C) = block @ w."""
        return np.stack([np.bincount(self.rows, weights=self.vals * w[self.cols, c],
                                     minlength=self.n) for c in range(w.shape[1])], axis=1)

    def tdot(self, g: np.ndarray) -> np.ndarray:
        """(d, C) = block.T @ g."""
        return np.stack([np.bincount(self.cols, weights=self.vals * g[self.rows, c],
                                     minlength=self.d) for c in range(g.shape[1])], axis=1)


def fit_softmax(x: np.ndarray, y: np.ndarray, n_classes: int, cfg: JudgeConfig,
                sparse: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression, full-batch Adam from zeros (deterministic).
    ``sparse``: the columns of ``x`` to treat as a sparse block (the hashed words)."""
    n, d = x.shape
    cols = np.arange(d)
    dense_cols = cols if sparse is None else np.setdiff1d(cols, cols[sparse])
    xd = np.ascontiguousarray(x[:, dense_cols], dtype=np.float32)
    xs = SparseBlock(x[:, sparse]) if sparse is not None else None
    onehot = np.zeros((n, n_classes), dtype=np.float32)
    onehot[np.arange(n), y] = 1.0
    sw = np.ones(n)
    if cfg.balanced:
        counts = np.maximum(onehot.sum(0), 1.0)
        sw = sw * (n / (n_classes * counts))[y]
    sw = (sw / sw.sum()).astype(np.float32)
    Wd = np.zeros((xd.shape[1], n_classes), dtype=np.float32)
    Ws = np.zeros((xs.d if xs else 0, n_classes), dtype=np.float32)
    b = np.zeros(n_classes, dtype=np.float32)
    params: list[np.ndarray] = [Wd, Ws, b]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, cfg.steps + 1):
        Wd, Ws, b = params
        z = xd @ Wd + b
        if xs is not None:
            z += xs.dot(Ws).astype(np.float32)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) * sw[:, None]
        grads = [xd.T @ g + cfg.l2 * Wd,
                 (xs.tdot(g).astype(np.float32) + cfg.l2 * Ws) if xs is not None else Ws, g.sum(0)]
        c1, c2 = 1 - b1 ** step, 1 - b2 ** step
        for i, gr in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * gr
            v[i] = b2 * v[i] + (1 - b2) * gr * gr
            params[i] = params[i] - cfg.lr * (m[i] / c1) / (np.sqrt(v[i] / c2) + eps)
    Wd, Ws, b = params
    W = np.zeros((d, n_classes))
    W[dense_cols] = Wd
    if sparse is not None:
        W[sparse] = Ws
    return W.astype(np.float32), b.astype(np.float32)


@dataclass(slots=True)
class Verdict:
    """The judge's reading of one line: per task, the probability of each class."""

    probs: dict[str, dict[str, float]] = field(default_factory=dict)
    vector: np.ndarray | None = None  # whole-line sentence vector (answer relevance)
    vectors: np.ndarray | None = None  # the line's and its windows' vectors (checklist)

    def p(self, task: str, label: str = "yes") -> float:
        return self.probs.get(task, {}).get(label, 0.0)

    def top(self, task: str) -> tuple[str, float]:
        """The most probable non-negative class of ``task`` and its probability."""
        probs = self.probs.get(task)
        if not probs:
            return "", 0.0
        neg = TASKS[task][1][0]
        label = max((c for c in probs if c != neg), key=lambda c: probs[c])
        return label, probs[label]


@dataclass(slots=True)
class Thresholds:
    """Per task: ``detect`` (a moment is recorded) and ``nudge`` (the rep is interrupted)."""

    detect: dict[str, float]
    nudge: dict[str, float]
    digest: str = ""

    @classmethod
    def defaults(cls) -> Thresholds:
        return cls({t: 0.5 for t in TASKS}, {t: 0.8 for t in TASKS})


def load_thresholds(mode: str, digest: str, path: Path = THRESHOLDS_PATH) -> Thresholds:
    """Calibrated thresholds for ``mode`` ("embeddings" or "lexical"); defaults (0.5 / 0.8)
    with a warning when the file is missing or was calibrated on another corpus."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))[mode]
    except (OSError, ValueError, KeyError):
        log.warning("judge thresholds missing for %s: using 0.5/0.8 (run salescoach coach "
                    "calibrate)", mode)
        return Thresholds.defaults()
    if data.get("digest") != digest:
        log.warning("judge thresholds were calibrated on another corpus or configuration "
                    "(run salescoach coach calibrate)")
    return Thresholds(dict(data["detect"]), dict(data["nudge"]), str(data.get("digest", "")))


class Featurizer:
    """Turns lines into the judge's input rows for one playbook (and embedder, if any)."""

    def __init__(self, pb: Playbook, embedder: Any | None, protos: Any | None,
                 cfg: JudgeConfig = DEFAULT_CONFIG) -> None:
        self.pb, self.embedder, self.protos, self.cfg = pb, embedder, protos, cfg
        md = model_dir()
        self.vocab = F.vocabulary(str(md / "vocab.txt") if md else None)

    @property
    def bow_slice(self) -> slice:
        """Where the hashed words sit in a row (after the sentence vectors, if any)."""
        start = EMB_DIM if self.embedder is not None else 0
        return slice(start, start + F.BOW_DIM)

    @property
    def context_slice(self) -> slice:
        """Where the turn-before features sit in a row (the end of the lexical block)."""
        end = self.bow_slice.stop + F.N_LEX
        return slice(end - F.N_CONTEXT, end)

    @property
    def dim(self) -> int:
        base = F.BOW_DIM + F.N_LEX
        return base + EMB_DIM + len(KNN_GROUPS) if self.embedder is not None else base

    def _knn(self, whole: np.ndarray) -> np.ndarray:
        if self.protos is None:
            return np.zeros(len(KNN_GROUPS), np.float32)
        sims = whole[None, :] @ self.protos.matrix.T
        return np.array([float(self.protos.topk(sims, g, TOP_K)[0]) for g in KNN_GROUPS],
                        dtype=np.float32)

    def rows(self, texts: Sequence[str], speakers: Sequence[str],
             contexts: Sequence[F.Context], *, stored: bool = False
             ) -> tuple[np.ndarray, list[np.ndarray | None]]:
        """(n, dim) inputs and each line's encoded vectors, the whole line first (None
        without the model)."""
        pb = self.pb
        masked = [mask_competitors(normalise(t), pb) for t in texts]
        lex = [np.concatenate([F.bag_of_words(m, self.vocab, self.cfg.bow),
                               self.cfg.lex * F.lexical(t, s, pb, self.vocab, c,
                                                        bool(s == "rep" and find_risky(t, pb)))])
               for t, m, s, c in zip(texts, masked, speakers, contexts, strict=True)]
        if self.embedder is None:
            return F.stack(lex), [None] * len(texts)
        spans: list[tuple[int, int]] = []
        flat: list[str] = []
        for m in masked:
            enc = F.encoder_texts(m) if m.strip() else [""]
            spans.append((len(flat), len(flat) + len(enc)))
            flat += enc
        vecs = (self.embedder.encode_corpus(flat) if stored else self.embedder.encode(flat))
        out, wholes = [], []
        for (a, z), lx in zip(spans, lex, strict=True):
            pooled = F.pool(vecs[a:z])
            wholes.append(vecs[a:z])
            out.append(np.concatenate([pooled, lx, self._knn(vecs[a])]))
        return F.stack(out), wholes


@dataclass(slots=True)
class JudgeWeights:
    models: dict[str, TaskModel]
    digest: str


def task_data(rows: Sequence[Row], task: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the rows labelled for ``task`` (by a speaker it applies to) and their
    class indices."""
    speakers, classes = TASKS[task]
    idx, ys = [], []
    for i, r in enumerate(rows):
        lab = r.labels.get(task)
        if lab is None or r.speaker not in speakers or lab not in classes:
            continue
        idx.append(i)
        ys.append(classes.index(lab))
    return np.array(idx, dtype=int), np.array(ys, dtype=int)


# Tasks that do not see the turn before: on the objection task the context features let
# "an answer to the rep's question" override plain objections ("too expensive for our
# budget" after "what does your process look like?"); cross-validation is the same with and
# without them (0.792 / 0.793), so objections are judged on the line alone.
NO_CONTEXT_TASKS = frozenset({"objection"})


def without_context(x: np.ndarray, context: slice) -> np.ndarray:
    out = x.copy()
    out[:, context] = 0.0
    return out


def fit_tasks(x: np.ndarray, rows: Sequence[Row], cfg: JudgeConfig,
              train_idx: np.ndarray | None = None,
              sparse: slice | None = None,
              context: slice | None = None) -> dict[str, TaskModel]:
    """One model per task on ``x`` (rows restricted to ``train_idx`` when given)."""
    allowed = None if train_idx is None else set(int(i) for i in train_idx)
    models = {}
    for task, (_, classes) in TASKS.items():
        idx, y = task_data(rows, task)
        if allowed is not None:
            keep = np.array([int(i) in allowed for i in idx], dtype=bool)
            idx, y = idx[keep], y[keep]
        if idx.size == 0 or len(set(y.tolist())) < 2:
            continue
        xt = x[idx]
        if context is not None and task in NO_CONTEXT_TASKS:
            xt = without_context(xt, context)
        W, b = fit_softmax(xt, y, len(classes), cfg, sparse)
        models[task] = TaskModel(classes, W, b)
    return models


def corpus_digest(rows: Sequence[Row], embeddings: bool, cfg: JudgeConfig) -> str:
    """What calibrated thresholds depend on: the corpus, the mode and the configuration."""
    h = hashlib.sha256(f"judge-v{JUDGE_VERSION}:{embeddings}:{cfg!r}".encode())
    for r in rows:
        h.update(json.dumps([r.text, r.speaker, r.labels, r.context.vector(r.speaker).tolist()],
                            sort_keys=True).encode())
    return h.hexdigest()[:32]


def corpus_matrix(feat: Featurizer, rows: Sequence[Row]) -> np.ndarray:
    x, _ = feat.rows([r.text for r in rows], [r.speaker for r in rows],
                     [r.context for r in rows], stored=True)
    return x


WEIGHTS_PATH = DATA_DIR / "judge_weights.npz"


def save_weights(weights: dict[str, JudgeWeights], path: Path = WEIGHTS_PATH) -> None:
    """Both modes' weights in one file, each with the corpus digest it was trained on."""
    arrays: dict[str, np.ndarray] = {}
    for mode, w in weights.items():
        arrays[f"{mode}/digest"] = np.array(w.digest)
        for t, m in w.models.items():
            arrays[f"{mode}/{t}.W"], arrays[f"{mode}/{t}.b"] = m.W, m.b
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def load_weights(mode: str, path: Path = WEIGHTS_PATH) -> JudgeWeights | None:
    try:
        with np.load(path) as z:
            digest = str(z[f"{mode}/digest"])
            models = {t: TaskModel(TASKS[t][1], z[f"{mode}/{t}.W"], z[f"{mode}/{t}.b"])
                      for t in TASKS if f"{mode}/{t}.W" in z.files}
    except (OSError, ValueError, KeyError):
        return None
    return JudgeWeights(models, digest) if models else None


def train_judge(embedder: Any | None, rows: Sequence[Row] | None = None,
                cfg: JudgeConfig = DEFAULT_CONFIG) -> JudgeWeights:
    """Fit every task on the bundled corpus with the default playbook's features.

    The weights serve every playbook: a tenant's keywords, cues and examples are feature
    values (which rule fired, how similar the line is to the tenant's examples of a class),
    so they move decisions without retraining."""
    from plugin.coach.analysers.detector import prototypes_for
    from plugin.coach.playbook import default_playbook

    rows = training_rows() if rows is None else rows
    pb = default_playbook()
    protos = prototypes_for(pb, embedder) if embedder is not None else None
    feat = Featurizer(pb, embedder, protos, cfg)
    models = fit_tasks(corpus_matrix(feat, rows), rows, cfg, sparse=feat.bow_slice,
                       context=feat.context_slice)
    return JudgeWeights(models, corpus_digest(rows, embedder is not None, cfg))


_WEIGHTS: dict[str, JudgeWeights] = {}
_WEIGHTS_LOCK = threading.Lock()


def weights_for(embedder: Any | None) -> JudgeWeights:
    """The shipped weights for the mode, or (when the corpus changed since they were
    trained: development) weights trained now, once per process."""
    mode = "embeddings" if embedder is not None else "lexical"
    with _WEIGHTS_LOCK:
        hit = _WEIGHTS.get(mode)
        if hit is None:
            hit = load_weights(mode)
            if hit is None or hit.digest != default_digest(mode):
                log.warning("shipped judge weights (%s) do not match the corpus: training "
                            "(run salescoach coach calibrate to ship new ones)", mode)
                hit = train_judge(embedder)
            _WEIGHTS[mode] = hit
        return hit


class Judge:
    """Reads lines for one playbook: ``judge(text, speaker, context)`` -> :class:`Verdict`."""

    def __init__(self, pb: Playbook, embedder: Any | None, protos: Any | None,
                 weights: JudgeWeights | None = None,
                 thresholds: Thresholds | None = None) -> None:
        self.feat = Featurizer(pb, embedder, protos)
        self.weights = weights or weights_for(embedder)
        mode = "embeddings" if embedder is not None else "lexical"
        self.thresholds = thresholds or load_thresholds(mode, default_digest(mode))
        self.pb = pb

    def judge(self, text: str, speaker: str, context: F.Context = F.NO_CONTEXT) -> Verdict:
        x, encoded = self.feat.rows([text], [speaker], [context])
        vecs = encoded[0]
        v = Verdict(vector=None if vecs is None else vecs[0], vectors=vecs)
        for task, m in self.weights.models.items():
            if speaker not in TASKS[task][0]:
                continue
            xt = without_context(x, self.feat.context_slice) if task in NO_CONTEXT_TASKS \
                else x
            probs = m.proba(xt)[0]
            out = {c: float(p) for c, p in zip(m.classes, probs, strict=True)}
            if task == "objection":  # types the playbook does not coach fold into none
                for c in OBJECTION_TYPES:
                    if c not in self.pb.objections and c in out:
                        out["none"] += out.pop(c)
            v.probs[task] = out
        return v


_DEFAULT_DIGESTS: dict[str, str] = {}


def default_digest(mode: str) -> str:
    """Digest of the bundled corpus for ``mode``: what the shipped thresholds file must
    have been calibrated on."""
    hit = _DEFAULT_DIGESTS.get(mode)
    if hit is None:
        hit = corpus_digest(training_rows(), mode == "embeddings", DEFAULT_CONFIG)
        _DEFAULT_DIGESTS[mode] = hit
    return hit


_JUDGES: dict[tuple[int, int], tuple[Playbook, Judge]] = {}
_LOCK = threading.Lock()


def judge_for(pb: Playbook, embedder: Any | None, protos: Any | None) -> Judge:
    """Per-process cache of judges per (playbook, embedder) object."""
    key = (id(pb), id(embedder))
    hit = _JUDGES.get(key)
    if hit is not None and hit[0] is pb:
        return hit[1]
    with _LOCK:
        hit = _JUDGES.get(key)
        if hit is not None and hit[0] is pb:
            return hit[1]
        j = Judge(pb, embedder, protos)
        if len(_JUDGES) >= 32:
            _JUDGES.pop(next(iter(_JUDGES)))
        _JUDGES[key] = (pb, j)
        return j
