"""Moment-detection quality of the instant tier on the labelled utterances.

Reads tests/data/moments.jsonl (written for this project, kept apart from the playbook's
prototype examples), runs ``analyse_utterance`` on each and prints per-label precision,
recall and F1, the macro-F1 over objection types, and (with --errors) the misses.
The last line of output is ONE JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin.coach import analyse_utterance, default_playbook, load_playbook  # noqa: E402
from plugin.coach.analysers import head as H  # noqa: E402
from plugin.coach.analysers.detector import Detector, prototypes_for  # noqa: E402
from plugin.coach.playbook import OBJECTION_TYPES  # noqa: E402
from plugin.coach.utterance import analyse_with  # noqa: E402

DATA = ROOT / "tests" / "data" / "moments.jsonl"
MOMENT_KINDS = ("competitor", "buying_signal", "next_step", "risky", "negative")


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3),
            "support": tp + fn}


def evaluate(rows: list[dict], playbook, use_embeddings: bool, detector=None) -> dict:
    """Per-label P/R/F1 of ``analyse_utterance`` (or of ``detector``, a ready Detector)."""
    counts: dict[str, list[int]] = {}  # label -> [tp, fp, fn]
    errors = []
    t0 = time.perf_counter()
    for row in rows:
        if detector is not None:
            a = analyse_with(detector, row["text"], row["speaker"])
        else:
            a = analyse_utterance(row["text"], row["speaker"], playbook,
                                  use_embeddings=use_embeddings)
        gold_obj, pred_obj = row["objection"], a.objection
        for label in OBJECTION_TYPES:
            c = counts.setdefault(f"objection:{label}", [0, 0, 0])
            c[0] += gold_obj == label and pred_obj == label
            c[1] += gold_obj != label and pred_obj == label
            c[2] += gold_obj == label and pred_obj != label
        c = counts.setdefault("objection:any", [0, 0, 0])
        c[0] += bool(gold_obj) and bool(pred_obj)
        c[1] += not gold_obj and bool(pred_obj)
        c[2] += bool(gold_obj) and not pred_obj
        kinds = {m.kind for m in a.moments}
        for kind in MOMENT_KINDS:
            gold, pred = kind in row["moments"], kind in kinds
            c = counts.setdefault(kind, [0, 0, 0])
            c[0] += gold and pred
            c[1] += pred and not gold
            c[2] += gold and not pred
            if gold != pred:
                errors.append({"id": row["id"], "label": kind, "gold": gold, "pred": pred,
                               "text": row["text"]})
        if gold_obj != pred_obj:
            errors.append({"id": row["id"], "label": "objection", "gold": gold_obj,
                           "pred": pred_obj, "text": row["text"],
                           "scores": a.detection.objection_scores if a.detection else {}})
    elapsed = time.perf_counter() - t0
    per_label = {k: prf(*v) for k, v in counts.items()}
    obj_f1 = [per_label[f"objection:{t}"]["f1"] for t in OBJECTION_TYPES]
    moment_f1 = [per_label[k]["f1"] for k in MOMENT_KINDS]
    return {
        "embeddings": use_embeddings,
        "utterances": len(rows),
        "objection_macro_f1": round(sum(obj_f1) / len(obj_f1), 3),
        "moment_macro_f1": round(sum(moment_f1) / len(moment_f1), 3),
        "objection_accuracy": round(1 - sum(1 for e in errors if e["label"] == "objection")
                                    / max(len(rows), 1), 3),
        "per_label": per_label,
        "ms_per_utterance": round(elapsed * 1000 / max(len(rows), 1), 2),
        "errors": errors,
        "counts": counts,
    }


CV_FOLDS = 5
# --cv --grid: the search behind H.DEFAULT_CONFIG (a few minutes on one core)
_D = H.DEFAULT_CONFIG
CV_GRID = ([replace(_D, l2=l2, bow=bow) for l2 in (3e-5, 1e-4, 3e-4)
            for bow in (0.0, 1.0, 2.0, 3.0)]
           + [replace(_D, balanced=False), replace(_D, surface=False), replace(_D, bank=False),
              replace(_D, shared=False), replace(_D, steps=800)])


def folds(rows: list[dict], pb, k: int = CV_FOLDS) -> list[int]:
    """Deterministic stratified fold per row: rows of each class in file order, dealt 0..k-1."""
    out: list[int] = []
    seen: dict[str, int] = {}
    for r in rows:
        label = H.row_label(r, pb) + ":" + r["speaker"]
        out.append(seen.get(label, 0) % k)
        seen[label] = seen.get(label, 0) + 1
    return out


def cross_validate(pb, grid: list, k: int = CV_FOLDS) -> list[dict]:
    """k-fold CV on the TRAINING corpus only (the test set is never read): for each config,
    train the head on k-1 folds + the playbook's examples, evaluate on the held-out fold
    through the full detector, and pool the counts over the folds."""
    from plugin.nlp.embeddings import Embedder

    emb = Embedder.get()
    protos = prototypes_for(pb, emb)
    rows = H.load_corpus()
    fold_of = folds(rows, pb, k)
    pb_examples = H.playbook_examples(pb)
    results = []
    for cfg in grid:
        preds: list[dict] = []
        for f in range(k):
            train = [r for r, fo in zip(rows, fold_of, strict=True) if fo != f]
            test = [r for r, fo in zip(rows, fold_of, strict=True) if fo == f]
            w = H.train(pb, emb, protos, H.corpus_examples(train, pb) + pb_examples, cfg,
                        stored=False)
            res = evaluate(test, pb, True, detector=Detector(pb, emb, head=w))
            preds.append(res)
        pooled: dict[str, list[int]] = {}
        for res in preds:
            for label, v in res["counts"].items():
                c = pooled.setdefault(label, [0, 0, 0])
                for i in range(3):
                    c[i] += v[i]
        per_label = {lab: prf(*c) for lab, c in pooled.items()}
        obj = sum(per_label[f"objection:{t}"]["f1"] for t in OBJECTION_TYPES) / 6
        mom = [per_label[x]["f1"] for x in ("buying_signal", "next_step")]
        results.append({"config": cfg, "objection_macro_f1": round(obj, 3),
                        "objection_any_f1": per_label["objection:any"]["f1"],
                        "buying_signal_f1": mom[0], "next_step_f1": mom[1],
                        "per_label": per_label})
        print(f"  {cfg}: objection macro-F1 {obj:.3f}, any {per_label['objection:any']['f1']:.3f}"
              f", buying {mom[0]:.3f}, next step {mom[1]:.3f}", file=sys.stderr)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="labelled JSONL (default: %(default)s)")
    ap.add_argument("--playbook", type=Path, help="playbook YAML (default: the shipped one)")
    ap.add_argument("--rules-only", action="store_true", help="evaluate without embeddings")
    ap.add_argument("--errors", action="store_true", help="print every misclassification")
    ap.add_argument("--cv", action="store_true",
                    help=f"{CV_FOLDS}-fold cross-validation of the head's hyperparameters on the "
                         "training corpus (plugin/coach/data); never reads the test set")
    ap.add_argument("--grid", action="store_true",
                    help="with --cv: search the hyperparameter grid instead of the default")
    args = ap.parse_args()
    if args.cv:
        pb = load_playbook(args.playbook.read_text()) if args.playbook else default_playbook()
        res = cross_validate(pb, CV_GRID if args.grid else [H.DEFAULT_CONFIG])
        best = max(res, key=lambda r: (r["objection_macro_f1"], r["buying_signal_f1"]))
        print(f"== {'best' if args.grid else 'default'}: {best['config']}", file=sys.stderr)
        for label, v in best["per_label"].items():
            print(f"  {label:22s} P {v['precision']:.3f} R {v['recall']:.3f} F1 {v['f1']:.3f}"
                  f" (n={v['support']})", file=sys.stderr)
        print(json.dumps({"cv_folds": CV_FOLDS, "training_rows": len(H.load_corpus()),
                          "default": repr(H.DEFAULT_CONFIG), "best": repr(best["config"]),
                          "results": [{**r, "config": repr(r["config"])} for r in res]}))
        return
    pb = load_playbook(args.playbook.read_text()) if args.playbook else default_playbook()
    rows = load(args.data)
    modes = [False] if args.rules_only else [True, False]
    results: dict[str, dict] = {}
    for mode in modes:
        scored = evaluate(rows, pb, mode)
        name = "embeddings" if mode else "rules_only"
        print(f"== {name}: objection macro-F1 {scored['objection_macro_f1']}, "
              f"moment macro-F1 {scored['moment_macro_f1']}", file=sys.stderr)
        for label, v in scored["per_label"].items():
            print(f"  {label:22s} P {v['precision']:.3f} R {v['recall']:.3f} F1 {v['f1']:.3f}"
                  f" (n={v['support']})", file=sys.stderr)
        if args.errors:
            for e in scored["errors"]:
                print(f"  MISS {e}", file=sys.stderr)
        scored.pop("errors")
        scored.pop("counts")
        results[name] = scored
    print(json.dumps(results))


if __name__ == "__main__":
    main()
