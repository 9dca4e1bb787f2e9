"""Thresholds by cross-validation on the training corpus only.

Out-of-fold probabilities (5 folds; a scripted call's turns stay in one fold) give, per
task, the ``detect`` threshold with the best F1 and the ``nudge`` threshold, the lowest one
whose precision is at least ``NUDGE_PRECISION``. Evaluation sets are never looked at here.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plugin.coach.analysers.corpus import TASKS, Row
from plugin.coach.analysers.judge import (
    DEFAULT_CONFIG,
    NO_CONTEXT_TASKS,
    THRESHOLDS_PATH,
    Featurizer,
    JudgeConfig,
    corpus_digest,
    corpus_matrix,
    fit_tasks,
    task_data,
    without_context,
)
from plugin.coach.playbook import Playbook

NUDGE_PRECISION = 0.90
MIN_NUDGE_SUPPORT = 8  # predicted positives a precision estimate needs
GRID = tuple(round(x, 2) for x in np.arange(0.20, 0.991, 0.01))
FOLDS = 5
MIN_ANSWER_ROWS = 25


def fold_of(row: Row, i: int, k: int = FOLDS) -> int:
    group = str(row.meta.get("call") or f"{row.source}:{i}")
    return zlib.crc32(group.encode()) % k


def out_of_fold(rows: Sequence[Row], pb: Playbook, embedder: Any | None, protos: Any | None,
                cfg: JudgeConfig = DEFAULT_CONFIG, k: int = FOLDS
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per task: (gold class indices, out-of-fold probabilities) over its labelled rows."""
    feat = Featurizer(pb, embedder, protos, cfg)
    x = corpus_matrix(feat, rows)
    folds = np.array([fold_of(r, i, k) for i, r in enumerate(rows)])
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for task, (_, classes) in TASKS.items():
        idx, y = task_data(rows, task)
        if idx.size:
            out[task] = (y, np.zeros((idx.size, len(classes))))
    for f in range(k):
        models = fit_tasks(x, rows, cfg, np.flatnonzero(folds != f), feat.bow_slice,
                           feat.context_slice)
        for task, m in models.items():
            idx, _ = task_data(rows, task)
            test = folds[idx] == f
            if test.any():
                xt = x[idx[test]]
                if task in NO_CONTEXT_TASKS:
                    xt = without_context(xt, feat.context_slice)
                out[task][1][test] = m.proba(xt)
    return out


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3),
            "support": tp + fn}


def decide(probs: np.ndarray, t: float, summed: bool = False) -> np.ndarray:
    """Class index per row: the best positive class when its probability (``summed``: the
    probability of any positive class, as for "is it a question") reaches ``t``, else 0."""
    pos = probs[:, 1:]
    best = pos.argmax(axis=1) + 1
    conf = pos.sum(axis=1) if summed else pos.max(axis=1)
    return np.where(conf >= t, best, 0)


def scores(y: np.ndarray, pred: np.ndarray, n_classes: int) -> tuple[float, float, int]:
    """(macro-F1 over the positive classes, precision of positive predictions, count)."""
    f1s = []
    for c in range(1, n_classes):
        tp = int(((pred == c) & (y == c)).sum())
        f1s.append(prf(tp, int(((pred == c) & (y != c)).sum()),
                       int(((pred != c) & (y == c)).sum()))["f1"])
    fired = pred > 0
    correct = int((fired & (pred == y)).sum())
    precision = correct / int(fired.sum()) if fired.any() else 0.0
    return float(np.mean(f1s)), precision, int(fired.sum())


def choose(y: np.ndarray, probs: np.ndarray, summed: bool = False
           ) -> tuple[float, float, dict[str, float]]:
    """(detect, nudge, figures at those thresholds) for one task's out-of-fold output."""
    n = probs.shape[1]
    best_t, best_f = 0.5, -1.0
    nudge_t = GRID[-1]
    for t in GRID:
        f1, precision, fired = scores(y, decide(probs, t, summed), n)
        if f1 > best_f + 1e-9:
            best_t, best_f = t, f1
    for t in GRID:
        _, precision, fired = scores(y, decide(probs, t, summed), n)
        if fired >= MIN_NUDGE_SUPPORT and precision >= NUDGE_PRECISION:
            nudge_t = t
            break
    nf1, nprec, nfired = scores(y, decide(probs, nudge_t, summed), n)
    return best_t, nudge_t, {"cv_f1": round(best_f, 3), "nudge_precision": round(nprec, 3),
                             "nudge_f1": round(nf1, 3), "nudge_fired": nfired}


def missing_ack(y: np.ndarray, probs: np.ndarray) -> tuple[float, dict[str, float]]:
    """The threshold on P(no acknowledgement) for the missing-acknowledgement nudge."""
    flipped = probs[:, ::-1]
    yy = 1 - y
    _, t, figs = choose(yy, flipped)
    return t, figs


def calibrate(rows: Sequence[Row], pb: Playbook, embedder: Any | None, protos: Any | None,
              cfg: JudgeConfig = DEFAULT_CONFIG) -> dict[str, Any]:
    """Thresholds and cross-validated figures for one mode, as stored in the JSON file."""
    oof = out_of_fold(rows, pb, embedder, protos, cfg)
    detect, nudge, figures = {}, {}, {}
    for task, (y, probs) in oof.items():
        detect[task], nudge[task], figures[task] = choose(y, probs, task == "question")
        if task == "ack":
            # The missing-acknowledgement nudge is only ever asked after an objection: its
            # threshold comes from the rep turns that answer one (scripted calls) when
            # there are enough of them, not from every rep line (mostly easy "no"s).
            idx, _ = task_data(rows, "ack")
            answers = np.array([rows[i].context.objection is not None for i in idx])
            if answers.sum() >= MIN_ANSWER_ROWS:
                y, probs = y[answers], probs[answers]
            nudge["ack_missing"], figures["ack_missing"] = missing_ack(y, probs)
            figures["ack_missing"]["rows"] = int(len(y))
    return {"digest": corpus_digest(rows, embedder is not None, cfg), "detect": detect,
            "nudge": nudge, "cv": figures, "rows": len(rows)}


def write(result: dict[str, dict[str, Any]], path: Path = THRESHOLDS_PATH) -> None:
    path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
