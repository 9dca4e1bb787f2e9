"""Counts per label, style and contrast group of the independent evaluation set (tests/data/eval).

Run ``.venv/bin/python -m tests.coach_eval.eval_counts`` to print the counts section of
tests/data/eval/README.md, or add ``--write-readme`` to refresh that section in place.
Measurement data only: nothing here may feed training, thresholds or cue lists.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

EVAL_DIR = Path(__file__).resolve().parents[1] / "data" / "eval"
LINES_PATH = EVAL_DIR / "lines.jsonl"
CALLS_DIR = EVAL_DIR / "calls"
FACTS_PATH = EVAL_DIR / "call_facts.json"
GROUPS_PATH = EVAL_DIR / "groups.json"
README_PATH = EVAL_DIR / "README.md"

OBJECTION_TYPES = ("price", "timing", "authority", "need", "competitor", "status_quo")
BEGIN, END = "<!-- counts:begin -->", "<!-- counts:end -->"
_PUNCTUATION = re.compile(r"[.,?!;:\"]")


def load_lines() -> list[dict[str, Any]]:
    """Every labelled line, in file order."""
    with LINES_PATH.open(encoding="utf-8") as fh:
        return [json.loads(raw) for raw in fh if raw.strip()]


def load_calls() -> list[dict[str, Any]]:
    """Every scripted call, sorted by file name."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(CALLS_DIR.glob("*.json"))]


def load_facts() -> dict[str, Any]:
    """Call-level facts (next step agreed, distinct concerns, rep questions) keyed by call id."""
    return json.loads(FACTS_PATH.read_text(encoding="utf-8"))


def load_groups() -> dict[str, Any]:
    """Author-assigned contrast and style groups plus the invented vendor names."""
    return json.loads(GROUPS_PATH.read_text(encoding="utf-8"))


def words(text: str) -> int:
    """Whitespace-separated tokens, the unit the guide uses for turn lengths."""
    return len(text.split())


def is_raw_stt(text: str) -> bool:
    """Raw speech-to-text style: all lowercase and no sentence punctuation (apostrophes allowed)."""
    return text == text.lower() and not _PUNCTUATION.search(text)


def is_long(text: str) -> bool:
    """A long rambling line: 40 to 80 words."""
    return 40 <= words(text) <= 80


def vendors_in_competitor_lines(lines: list[dict[str, Any]], names: list[str]) -> list[str]:
    """Invented vendor names that occur in at least one competitor objection."""
    texts = [x["text"].lower() for x in lines if x["objection"] == "competitor"]
    return [n for n in names if any(n.lower() in t for t in texts)]


def summary() -> dict[str, Any]:
    """Every figure the README reports, computed from the files."""
    lines, calls, groups = load_lines(), load_calls(), load_groups()
    cust = [x for x in lines if x["speaker"] == "customer"]
    rep = [x for x in lines if x["speaker"] == "rep"]
    questions = [x for x in lines if x["question"] != "none"]
    turns = [t for c in calls for t in c["turns"]]
    tags = Counter(tag for t in turns for tag in t["expect"])
    answers = [
        (c["turns"][i - 1], t)
        for c in calls
        for i, t in enumerate(c["turns"])
        if i and t["speaker"] == "rep"
        and any(e.startswith("objection:") for e in c["turns"][i - 1]["expect"])
    ]
    return {
        "lines": len(lines),
        "customer": len(cust),
        "rep": len(rep),
        "objection": {
            k: sum(x["objection"] == k for x in cust) for k in (*OBJECTION_TYPES, "none")
        },
        "question": {
            spk: {q: sum(x["question"] == q for x in lines if x["speaker"] == spk)
                  for q in ("open", "closed", "none")}
            for spk in ("customer", "rep")
        },
        "questions_without_mark": sum("?" not in x["text"] for x in questions),
        "next_step": {spk: sum(x["next_step"] for x in lines if x["speaker"] == spk)
                      for spk in ("customer", "rep")},
        "risky": sum(x["risky"] for x in rep),
        "buying_signal": sum(x["buying_signal"] for x in cust),
        "hard_negative": {spk: sum(x["hard_negative"] for x in lines if x["speaker"] == spk)
                          for spk in ("customer", "rep")},
        "acknowledgement": sum(x["acknowledgement"] for x in rep),
        "raw_stt": sum(is_raw_stt(x["text"]) for x in lines),
        "long_40_80": sum(is_long(x["text"]) for x in lines),
        "groups": {k: len(v) for k, v in groups["groups"].items()},
        "vendor_names": len(vendors_in_competitor_lines(lines, groups["vendor_names"])),
        "calls": len(calls),
        "call_turns": len(turns),
        "call_tags": dict(sorted(tags.items())),
        "objection_answers": len(answers),
        "answers_acknowledged": sum("no_acknowledgement" not in t["expect"] for _, t in answers),
        "next_step_agreed_calls": sum(f["next_step_agreed"] for f in load_facts().values()),
        "restated_concern_calls": sum(
            any(len(idx) > 1 for _, idx in f["distinct_objections"]) for f in load_facts().values()
        ),
    }


def markdown() -> str:
    """The counts section of the README, as markdown."""
    s = summary()
    g = load_groups()["groups"]
    out = [
        "Generated by `.venv/bin/python -m tests.coach_eval.eval_counts` "
        "(from the repository root).",
        "",
        f"**lines.jsonl**: {s['lines']} lines, {s['customer']} customer "
        f"({100 * s['customer'] / s['lines']:.0f} %), {s['rep']} rep.",
        "",
        "| label | count |",
        "| --- | --- |",
    ]
    out += [f"| objection `{k}` (customer) | {v} |" for k, v in s["objection"].items()]
    for spk in ("customer", "rep"):
        q = s["question"][spk]
        out.append(
            f"| question open / closed / none ({spk}) | {q['open']} / {q['closed']} / {q['none']} |"
        )
    out += [
        f"| questions with no question mark | {s['questions_without_mark']} |",
        f"| next_step true (customer / rep) | {s['next_step']['customer']} / "
        f"{s['next_step']['rep']} |",
        f"| risky true (rep) | {s['risky']} |",
        f"| buying_signal true (customer) | {s['buying_signal']} |",
        f"| hard_negative true (customer / rep) | {s['hard_negative']['customer']} / "
        f"{s['hard_negative']['rep']} |",
        f"| acknowledgement true (rep) | {s['acknowledgement']} |",
        "",
        "| style | count |",
        "| --- | --- |",
        f"| raw speech-to-text (lowercase, no punctuation) | {s['raw_stt']} "
        f"({100 * s['raw_stt'] / s['lines']:.0f} %) |",
        f"| long lines, 40-80 words | {s['long_40_80']} |",
        f"| distinct invented vendor names in competitor lines | {s['vendor_names']} |",
    ]
    out += [f"| group `{k}` | {v} |" for k, v in s["groups"].items()]
    out += [
        "",
        f"**calls/**: {s['calls']} calls, {s['call_turns']} turns; "
        f"{s['objection_answers']} rep answers "
        f"to objections, {s['answers_acknowledged']} acknowledged (deliberate pause) and "
        f"{s['objection_answers'] - s['answers_acknowledged']} not (`no_acknowledgement`, rushed); "
        f"{s['restated_concern_calls']} calls restate a concern; "
        f"{s['next_step_agreed_calls']} end with an agreed next step.",
        "",
        "| tag | turns |",
        "| --- | --- |",
    ]
    out += [f"| `{k}` | {v} |" for k, v in s["call_tags"].items()]
    out += ["", "### Contrast and style groups (ids)", ""]
    out += [f"- `{k}` ({len(v)}): {', '.join(v)}" for k, v in g.items()]
    out += ["", "### Restated concerns in calls (count each once)", ""]
    for cid, f in load_facts().items():
        for typ, idx in f["distinct_objections"]:
            if len(idx) > 1:
                out.append(f"- `{cid}`: {typ} at turns {', '.join(map(str, idx))}")
    return "\n".join(out) + "\n"


def readme_section() -> str:
    """The counts section as it currently stands in the README (between the markers)."""
    text = README_PATH.read_text(encoding="utf-8")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write_readme() -> None:
    """Replace the README's counts section with freshly computed counts."""
    text = README_PATH.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    README_PATH.write_text(f"{head}{BEGIN}\n{markdown()}{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    if "--write-readme" in sys.argv[1:]:
        write_readme()
    else:
        sys.stdout.write(markdown())
