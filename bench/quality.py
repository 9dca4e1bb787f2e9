"""How right the coach is, on speech nobody wrote for it.

Two evaluation sets, both written apart from the training corpus (``plugin/coach/data``)
and never trained on or used to choose a threshold:

* ``tests/data/eval`` (ours: 856 lines, 14 scripted calls with call facts), written by a
  helper that never saw the training data, to ``shared/eval/labelling.md`` +
  ``docs/labelling.md``;
* ``../shared/eval`` (external: 345 lines, 6 calls; measure only).

For each: per-label precision / recall / F1 on single lines (``analyse_utterance``), the
false-positive rate on hard negatives, and on the scripted calls (turns in order through
``CoachSession``, in context, timed from the script's pauses at 150 words a minute): moment
F1 per turn, acknowledgement F1, nudge precision, recall of turns that warrant a nudge and
the share of report facts that are right. ``--audio`` also renders the calls with two
espeak-ng voices (one per channel, as the demo calls) and runs them through the live
pipeline with the local speech engine. The last line of output is ONE JSON object.

    .venv/bin/python bench/quality.py [--rules-only] [--audio] [--errors]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin.coach import CoachSession, Turn, Word, default_playbook  # noqa: E402
from plugin.coach.analysers.calibrate import prf  # noqa: E402
from plugin.coach.playbook import OBJECTION_TYPES  # noqa: E402
from plugin.coach.utterance import analyse_with, detector_for  # noqa: E402

SETS = {"ours": ROOT / "tests" / "data" / "eval", "shared": ROOT.parent / "shared" / "eval"}
WPM = 150
# Nudge rules a scripted call's tags can prove right or wrong, and the tag that does.
JUDGED_RULES = {"missing_acknowledgement": "no_acknowledgement", "risky_language": "risky",
                "buying_signal": "buying_signal", "long_turn": "long_rep_turn"}
WARRANTED = ("no_acknowledgement", "risky", "buying_signal", "long_rep_turn")


def load_lines(folder: Path) -> list[dict[str, Any]]:
    path = folder / "lines.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def load_calls(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((folder / "calls").glob("*.json"))]


class Tally:
    """tp / fp / fn per label."""

    def __init__(self) -> None:
        self.c: dict[str, list[int]] = {}

    def add(self, label: str, gold: bool, pred: bool) -> None:
        c = self.c.setdefault(label, [0, 0, 0])
        c[0] += gold and pred
        c[1] += pred and not gold
        c[2] += gold and not pred

    def report(self) -> dict[str, dict[str, float]]:
        return {k: prf(*v) for k, v in sorted(self.c.items())}


def macro(per: dict[str, dict[str, float]], labels: list[str]) -> float:
    vals = [per[k]["f1"] for k in labels if k in per]
    return round(sum(vals) / len(vals), 3) if vals else 0.0


def line_metrics(rows: list[dict[str, Any]], det: Any, errors: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    t = Tally()
    hard = {"customer": [0, 0], "rep": [0, 0]}  # [flagged, total]
    t0 = time.perf_counter()
    for r in rows:
        a = analyse_with(det, r["text"], r["speaker"])
        cust = r["speaker"] == "customer"
        if cust:
            gold = r["objection"] if r["objection"] != "none" else None
            for label in OBJECTION_TYPES:
                t.add(f"objection:{label}", gold == label, a.objection == label)
            t.add("objection:any", gold is not None, a.objection is not None)
            t.add("buying_signal", r["buying_signal"], a.buying_signal)
            if gold != a.objection:
                errors.append({"id": r["id"], "label": "objection", "gold": gold,
                               "pred": a.objection})
        else:
            t.add("risky", r["risky"], bool(a.risky))
            if "acknowledgement" in r:
                t.add("acknowledgement", r["acknowledgement"], a.acknowledges)
        t.add("next_step", r["next_step"], a.next_step)
        for kind in ("open", "closed"):
            t.add(f"question:{kind}", r["question"] == kind, a.question == kind)
        t.add("question:any", r["question"] != "none", a.question != "none")
        if r["hard_negative"]:
            side = hard[r["speaker"]]
            side[1] += 1
            side[0] += bool(a.objection) if cust else bool(a.risky)
    per = t.report()
    flagged = hard["customer"][0] + hard["rep"][0]
    total = hard["customer"][1] + hard["rep"][1]
    return {
        "lines": len(rows),
        "objection_macro_f1": macro(per, [f"objection:{x}" for x in OBJECTION_TYPES]),
        "hard_negative_fp_rate": round(flagged / total, 3) if total else 0.0,
        "hard_negative_fp": {"customer_objection": hard["customer"],
                             "rep_risky": hard["rep"]},
        "per_label": per,
        "ms_per_line": round((time.perf_counter() - t0) * 1000 / max(len(rows), 1), 2),
    }


def scripted_turns(call: dict[str, Any]) -> list[Turn]:
    """The call's turns on a clock: each turn starts after its pause and lasts its words
    at WPM, with evenly spaced word times (as a speech engine would give)."""
    out, clock = [], 0
    for i, t in enumerate(call["turns"]):
        start = clock + int(t["pause_before_ms"])
        ws = t["text"].split()
        step = 60_000 // WPM
        words = tuple(Word(w, start + j * step, start + (j + 1) * step - 40)
                      for j, w in enumerate(ws))
        end = start + len(ws) * step
        out.append(Turn(i, t["speaker"], t["text"], start, end, words))
        clock = end
    return out


def gold_facts(call: dict[str, Any], facts: dict[str, Any] | None) -> dict[str, Any]:
    """What a report of this call should say: from call_facts.json when the set has it,
    else from the turn tags."""
    turns = call["turns"]
    tags = [set(t["expect"]) for t in turns]
    types = {x.split(":", 1)[1] for tg in tags for x in tg if x.startswith("objection:")}
    acked: dict[str, bool] = {}
    for i, tg in enumerate(tags):
        obj = next((x.split(":", 1)[1] for x in tg if x.startswith("objection:")), None)
        if obj and obj not in acked and i + 1 < len(turns) and turns[i + 1]["speaker"] == "rep":
            acked[obj] = "no_acknowledgement" not in tags[i + 1]
    rep_q = sum(1 for t, tg in zip(turns, tags, strict=True)
                if t["speaker"] == "rep" and any(x.startswith("question:") for x in tg))
    out = {"objections": types, "acknowledged": acked, "rep_questions": rep_q,
           "next_step_agreed": any("next_step" in tg for tg in tags),
           "buying_signal": any("buying_signal" in tg for tg in tags)}
    if facts:
        out["next_step_agreed"] = bool(facts["next_step_agreed"])
        out["objections"] = {d[0] for d in facts["distinct_objections"]}
        out["rep_questions"] = int(facts.get("rep_questions", rep_q))
    return out


def report_facts(report: dict[str, Any], gold: dict[str, Any]) -> tuple[int, int, list[str]]:
    """(right, total, wrong claims) of the report's statements against the call's facts."""
    right = total = 0
    wrong: list[str] = []

    def check(ok: bool, what: str) -> None:
        nonlocal right, total
        total += 1
        right += ok
        if not ok:
            wrong.append(what)

    claimed = {o["label"] for o in report["objections"]}
    for label in claimed:
        check(label in gold["objections"], f"objection {label}")
    check(len(report["objections"]) == len(gold["objections"]),
          f"{len(report['objections'])} objections (gold {len(gold['objections'])})")
    for o in report["objections"]:
        if o["label"] in gold["acknowledged"] and o["response"] is not None:
            check(bool(o["acknowledged"]) == gold["acknowledged"][o["label"]],
                  f"{o['label']} acknowledged={o['acknowledged']}")
    check(bool(report["next_steps"]) == gold["next_step_agreed"],
          f"next step agreed={bool(report['next_steps'])}")
    q_turns = len({q["turn_seq"] for q in report["questions"]})
    g = gold["rep_questions"]
    check(abs(q_turns - g) <= max(1, round(0.2 * g)), f"{q_turns} question turns (gold {g})")
    buying = any(c["kind"] == "buying_signal" for c in report["claims"])
    if buying:
        check(gold["buying_signal"], "buying signal")
    return right, total, wrong


def nudge_right(rule: str, call: dict[str, Any], i: int) -> bool | None:
    """Whether a nudge of ``rule`` on script turn ``i`` is right by the call's tags (None:
    no tag speaks to that kind of nudge)."""
    tags = set(call["turns"][i]["expect"])
    base = rule.split(":", 1)[0]
    if rule.startswith("objection:"):
        return f"objection:{rule.split(':', 1)[1]}" in tags
    if base == "pause_after_objection":
        prev = set(call["turns"][i - 1]["expect"]) if i else set()
        return any(x.startswith("objection:") for x in prev)
    if base in JUDGED_RULES:
        return JUDGED_RULES[base] in tags
    return None


def tally_nudges(call: dict[str, Any], rules_by_turn: dict[int, list[str]],
                 nudges: Counter[str], warranted: list[int]) -> None:
    """Add one call's nudges (rule names per script turn) to the right / judged /
    unjudged counts and to the warranted turns nudged."""
    for i, script in enumerate(call["turns"]):
        tags = set(script["expect"])
        ok_any = False
        for rule in rules_by_turn.get(i, []):
            ok = nudge_right(rule, call, i)
            if ok is None:
                nudges["unjudged"] += 1
                continue
            nudges["judged"] += 1
            nudges["right"] += ok
            ok_any = ok_any or ok
        if any(x.startswith("objection:") for x in tags) or any(w in tags for w in WARRANTED):
            warranted[1] += 1
            warranted[0] += ok_any


def call_metrics(calls: list[dict[str, Any]], facts: dict[str, Any], pb: Any,
                 use_embeddings: bool | None, turns_of: Any = scripted_turns,
                 errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Moments per turn in context, nudges and report facts over scripted calls.
    ``turns_of(call)`` gives the turns the session sees (scripted text, or transcripts)
    aligned 1:1 with the script's turns."""
    t = Tally()
    nudges: Counter[str] = Counter()  # right / judged / unjudged
    warranted = [0, 0]  # nudged right, total
    facts_right = facts_total = 0
    by_rule: Counter[str] = Counter()
    for call in calls:
        s = CoachSession(pb, use_embeddings=use_embeddings)
        turns = turns_of(call)
        nudged: dict[int, list[str]] = {}
        for turn, script in zip(turns, call["turns"], strict=True):
            r = s.on_turn(turn)
            tags = set(script["expect"])
            a = r.analysis
            cust = turn.speaker == "customer"
            gold_obj = next((x.split(":", 1)[1] for x in tags if x.startswith("objection:")),
                            None)
            if cust:
                for label in OBJECTION_TYPES:
                    t.add(f"objection:{label}", gold_obj == label, a.objection == label)
                t.add("objection:any", gold_obj is not None, a.objection is not None)
                t.add("buying_signal", "buying_signal" in tags, a.buying_signal)
            else:
                t.add("risky", "risky" in tags, bool(a.risky))
            t.add("next_step", "next_step" in tags, a.next_step)
            gold_q = next((x.split(":", 1)[1] for x in tags if x.startswith("question:")),
                          "none")
            for kind in ("open", "closed"):
                t.add(f"question:{kind}", gold_q == kind, a.question == kind)
            i = turn.seq
            prev_tags = set(call["turns"][i - 1]["expect"]) if i else set()
            if not cust and any(x.startswith("objection:") for x in prev_tags):
                t.add("acknowledgement", "no_acknowledgement" not in tags, a.acknowledges)
            for n in r.nudges:
                nudged.setdefault(i, []).append(n.rule)
            if errors is not None and cust and gold_obj != a.objection:
                errors.append({"call": call["id"], "turn": i, "gold": gold_obj,
                               "pred": a.objection})
        for rules in nudged.values():
            by_rule.update(r.split(":", 1)[0] for r in rules)
        tally_nudges(call, nudged, nudges, warranted)
        rep = s.report().to_dict()
        right, total, wrong = report_facts(rep, gold_facts(call, facts.get(call["id"])))
        facts_right += right
        facts_total += total
        if errors is not None and wrong:
            errors.append({"call": call["id"], "wrong_report_facts": wrong})
    per = t.report()
    return {
        "calls": len(calls),
        "objection_macro_f1": macro(per, [f"objection:{x}" for x in OBJECTION_TYPES]),
        "acknowledgement_f1": per.get("acknowledgement", {}).get("f1", 0.0),
        "nudge_precision": round(nudges["right"] / nudges["judged"], 3)
        if nudges["judged"] else 0.0,
        "nudges_judged": nudges["judged"], "nudges_unjudged": nudges["unjudged"],
        "nudges_by_rule": dict(by_rule),
        "warranted_turns_nudged": round(warranted[0] / warranted[1], 3) if warranted[1] else 0.0,
        "warranted_turns": warranted[1],
        "report_facts_right": round(facts_right / facts_total, 3) if facts_total else 0.0,
        "report_facts": facts_total,
        "per_label": per,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules-only", action="store_true", help="without the embedding model")
    ap.add_argument("--errors", action="store_true",
                    help="list misses by id (stderr); ids only, so the text stays unread")
    ap.add_argument("--audio", action="store_true",
                    help="also run the calls as audio through the live pipeline (minutes)")
    ap.add_argument("--set", choices=sorted(SETS), action="append",
                    help="only this set (default: both)")
    args = ap.parse_args()
    use = False if args.rules_only else None
    pb = default_playbook()
    det = detector_for(pb, use)
    out: dict[str, Any] = {"embeddings": det.embedder is not None}
    for name in args.set or sorted(SETS):
        folder = SETS[name]
        if not (folder / "lines.jsonl").is_file():
            out[name] = {"missing": str(folder)}
            continue
        errors: list[dict[str, Any]] = []
        lines = line_metrics(load_lines(folder), det, errors)
        facts_path = folder / "call_facts.json"
        facts = json.loads(facts_path.read_text()) if facts_path.is_file() else {}
        calls = call_metrics(load_calls(folder), facts, pb, use, errors=errors)
        out[name] = {"lines": lines, "calls": calls}
        if args.audio:
            from bench.quality_audio import audio_call_metrics

            out[name]["calls_audio"] = audio_call_metrics(load_calls(folder), facts, pb, use,
                                                          call_metrics)
        if args.errors:
            for e in errors:
                print(json.dumps(e), file=sys.stderr)
        summary = {"objection_macro_f1": lines["objection_macro_f1"],
                   "hard_negative_fp_rate": lines["hard_negative_fp_rate"],
                   **{k: lines["per_label"].get(k, {}).get("f1") for k in
                      ("risky", "buying_signal", "next_step", "acknowledgement")},
                   "calls_nudge_precision": calls["nudge_precision"],
                   "calls_warranted_nudged": calls["warranted_turns_nudged"],
                   "calls_report_facts_right": calls["report_facts_right"],
                   "calls_acknowledgement_f1": calls["acknowledgement_f1"]}
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in summary.items()), file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
