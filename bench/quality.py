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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin.coach import analyse_utterance, default_playbook, load_playbook  # noqa: E402
from plugin.coach.playbook import OBJECTION_TYPES  # noqa: E402

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


def evaluate(rows: list[dict], playbook, use_embeddings: bool) -> dict:
    counts: dict[str, list[int]] = {}  # label -> [tp, fp, fn]
    errors = []
    t0 = time.perf_counter()
    for row in rows:
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
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="labelled JSONL (default: %(default)s)")
    ap.add_argument("--playbook", type=Path, help="playbook YAML (default: the shipped one)")
    ap.add_argument("--rules-only", action="store_true", help="evaluate without embeddings")
    ap.add_argument("--errors", action="store_true", help="print every misclassification")
    args = ap.parse_args()
    pb = load_playbook(args.playbook.read_text()) if args.playbook else default_playbook()
    rows = load(args.data)
    modes = [False] if args.rules_only else [True, False]
    results = {}
    for mode in modes:
        res = evaluate(rows, pb, mode)
        name = "embeddings" if mode else "rules_only"
        print(f"== {name}: objection macro-F1 {res['objection_macro_f1']}, "
              f"moment macro-F1 {res['moment_macro_f1']}", file=sys.stderr)
        for label, v in res["per_label"].items():
            print(f"  {label:22s} P {v['precision']:.3f} R {v['recall']:.3f} F1 {v['f1']:.3f}"
                  f" (n={v['support']})", file=sys.stderr)
        if args.errors:
            for e in res["errors"]:
                print(f"  MISS {e}", file=sys.stderr)
        res.pop("errors")
        results[name] = res
    print(json.dumps(results))


if __name__ == "__main__":
    main()
