"""The hyperparameter search behind ``JudgeConfig``: 5-fold cross-validation on the
training corpus only (never an evaluation set), one task at a time.

    .venv/bin/python bench/judge_grid.py [--task objection] [--grid BOW,LEX,L2 ...]

For each configuration: the cross-validated F1 at the best detect threshold and the F1 at
the nudge threshold (precision >= 0.90). The last line is ONE JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugin.coach import default_playbook  # noqa: E402
from plugin.coach.analysers import calibrate as C  # noqa: E402
from plugin.coach.analysers import features as F  # noqa: E402
from plugin.coach.analysers import judge as J  # noqa: E402
from plugin.coach.analysers.corpus import TASKS, training_rows  # noqa: E402
from plugin.coach.analysers.detector import prototypes_for  # noqa: E402
from plugin.nlp.embeddings import Embedder  # noqa: E402

DEFAULT_GRID = ["1.5,1,3e-4", "0.5,1,3e-4", "3.0,1,3e-4", "1.5,1,3e-5", "1.5,3,3e-4",
                "1.5,0.3,3e-4"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=sorted(TASKS), default="objection")
    ap.add_argument("--grid", nargs="+", default=DEFAULT_GRID,
                    help="bag-of-words scale, lexical scale, L2 (default: %(default)s)")
    args = ap.parse_args()
    rows, pb, emb = training_rows(), default_playbook(), Embedder.get()
    base = replace(J.DEFAULT_CONFIG, bow=1.0, lex=1.0)
    feat = J.Featurizer(pb, emb, prototypes_for(pb, emb), base)
    x0 = J.corpus_matrix(feat, rows)
    bow_cols = feat.bow_slice
    lex_cols = slice(bow_cols.stop, bow_cols.stop + F.N_LEX)
    folds = np.array([C.fold_of(r, i) for i, r in enumerate(rows)])
    idx, y = J.task_data(rows, args.task)
    classes = TASKS[args.task][1]
    results = []
    for spec in args.grid:
        bow, lex, l2 = (float(v) for v in spec.split(","))
        t0 = time.perf_counter()
        x = x0.copy()
        x[:, bow_cols] *= bow
        x[:, lex_cols] *= lex
        cfg = replace(base, bow=bow, lex=lex, l2=l2)
        probs = np.zeros((idx.size, len(classes)))
        for f in range(C.FOLDS):
            train = folds[idx] != f
            W, b = J.fit_softmax(x[idx[train]], y[train], len(classes), cfg, bow_cols)
            probs[~train] = J.TaskModel(classes, W, b).proba(x[idx[~train]])
        detect, nudge, figs = C.choose(y, probs, args.task == "question")
        row = {"bow": bow, "lex": lex, "l2": l2, "detect": detect, "nudge": nudge, **figs,
               "seconds": round(time.perf_counter() - t0)}
        print(json.dumps(row), file=sys.stderr)
        results.append(row)
    print(json.dumps({"task": args.task, "rows": int(idx.size), "results": results}))


if __name__ == "__main__":
    main()
