"""The hand-written training corpus (lines_train.jsonl, calls_train/) keeps the guide's schema.

Pure Python and fast: it reads two small data files and checks every invariant of the labelling
guide (sections 8-10, plus the product's `acknowledgement` label) and the minimum counts the corpus
was written to. Run as a script to print the counts quoted in plugin/coach/data/README.md.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "plugin" / "coach" / "data"
LINES = DATA / "lines_train.jsonl"
CALLS = DATA / "calls_train"

KEYS = ["id", "speaker", "text", "objection", "question", "next_step", "risky",
        "buying_signal", "hard_negative", "acknowledgement"]
BOOLS = ["next_step", "risky", "buying_signal", "hard_negative", "acknowledgement"]
SPEAKERS = {"customer", "rep"}
OBJECTIONS = {"price", "timing", "authority", "need", "competitor", "status_quo", "none"}
QUESTIONS = {"open", "closed", "none"}
TAG = re.compile(r"^(objection:(price|timing|authority|need|competitor|status_quo)"
                 r"|question:(open|closed)|next_step|risky|buying_signal|long_rep_turn"
                 r"|no_acknowledgement)$")
CALL_KEYS = ["id", "title", "scenario", "turns"]
TURN_KEYS = ["speaker", "text", "pause_before_ms", "expect"]

MIN_LINES = {
    "total": 1400, "price": 110, "timing": 110, "authority": 110, "need": 110,
    "competitor": 110, "status_quo": 110, "customer_none": 450, "customer_hard_negative": 250,
    "risky": 140, "rep_not_risky": 120, "buying_signal": 120, "next_step": 120,
    "question_open": 150, "question_closed": 150, "question_without_mark": 120,
    "acknowledgement": 130, "rep_without_acknowledgement": 100,
    "long_40_90_words": 150,
}
MIN_CALLS = 16


def load_lines() -> list[dict]:
    """Every line of lines_train.jsonl, parsed in file order."""
    return [json.loads(x) for x in LINES.read_text(encoding="utf-8").splitlines() if x.strip()]


def load_calls() -> list[tuple[str, dict]]:
    """(file stem, parsed call) for every call file, sorted by name."""
    return [(p.stem, json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(CALLS.glob("*.json"))]


def is_speech_to_text(text: str) -> bool:
    """Raw transcript style: all lowercase and no sentence punctuation (apostrophes allowed)."""
    return text == text.lower() and not re.search(r"[.,?!;:]", text)


def line_counts(rows: list[dict]) -> Counter:
    """The per-label and per-style counts the corpus is held to."""
    c: Counter = Counter()
    c["total"] = len(rows)
    for r in rows:
        cust = r["speaker"] == "customer"
        c[r["speaker"]] += 1
        if cust:
            c[r["objection"] if r["objection"] != "none" else "customer_none"] += 1
            if r["objection"] == "none" and r["hard_negative"]:
                c["customer_hard_negative"] += 1
        else:
            c["rep_not_risky"] += not r["risky"]
            c["rep_without_acknowledgement"] += not r["acknowledgement"]
        for k in BOOLS:
            c[k] += r[k]
        c["question_" + r["question"]] += 1
        if r["question"] != "none" and "?" not in r["text"]:
            c["question_without_mark"] += 1
        if r["question"] == "none" and "?" in r["text"]:
            c["question_mark_but_none"] += 1
        c["speech_to_text"] += is_speech_to_text(r["text"])
        words = len(r["text"].split())
        c["long_40_90_words"] += 40 <= words <= 90
    return c


def test_every_line_has_the_exact_keys_and_value_sets() -> None:
    rows = load_lines()
    for i, r in enumerate(rows, 1):
        assert list(r) == KEYS, r
        assert r["id"] == f"L{i:04d}", r["id"]
        assert r["speaker"] in SPEAKERS, r
        assert isinstance(r["text"], str) and r["text"].strip() == r["text"] and r["text"], r
        assert r["objection"] in OBJECTIONS, r
        assert r["question"] in QUESTIONS, r
        for k in BOOLS:
            assert isinstance(r[k], bool), (k, r)


def test_speaker_constraints_and_hard_negative_imply_none() -> None:
    for r in load_lines():
        if r["speaker"] == "rep":
            assert r["objection"] == "none" and not r["buying_signal"], r
        else:
            assert not r["risky"] and not r["acknowledgement"], r
        if r["hard_negative"]:
            assert r["objection"] == "none", r


def test_lines_are_unique_after_normalising_case_and_punctuation() -> None:
    seen: set[str] = set()
    for r in load_lines():
        key = " ".join(re.sub(r"[^a-z0-9 ]", " ", r["text"].lower()).split())
        assert key not in seen, r["text"]
        seen.add(key)


def test_lines_reach_every_minimum_count() -> None:
    c = line_counts(load_lines())
    short = {k: (c[k], need) for k, need in MIN_LINES.items() if c[k] < need}
    assert not short, short
    assert c["speech_to_text"] >= 0.40 * c["total"], c["speech_to_text"]
    assert 0.55 <= c["customer"] / c["total"] <= 0.70, c["customer"]


def test_calls_have_the_exact_schema_and_valid_tags() -> None:
    calls = load_calls()
    assert len(calls) >= MIN_CALLS
    assert len({call["id"] for _, call in calls}) == len(calls)
    for stem, call in calls:
        assert list(call) == CALL_KEYS, stem
        assert call["id"] == stem
        assert all(isinstance(call[k], str) and call[k] for k in ("id", "title", "scenario"))
        assert 14 <= len(call["turns"]) <= 22, stem
        for t in call["turns"]:
            assert list(t) == TURN_KEYS, (stem, t)
            assert t["speaker"] in SPEAKERS and isinstance(t["text"], str) and t["text"]
            assert isinstance(t["pause_before_ms"], int) and t["pause_before_ms"] >= 0
            tags = t["expect"]
            assert len(tags) == len(set(tags)) and all(TAG.match(x) for x in tags), (stem, t)
            assert sum(x.startswith("objection:") for x in tags) <= 1, (stem, t)
            assert sum(x.startswith("question:") for x in tags) <= 1, (stem, t)
            if t["speaker"] == "rep":
                assert not any(x.startswith("objection:") or x == "buying_signal" for x in tags)
            else:
                assert not {"risky", "long_rep_turn", "no_acknowledgement"} & set(tags)


@pytest.mark.parametrize("stem", [stem for stem, _ in load_calls()])
def test_call_turn_lengths_pauses_and_pairs_follow_the_guide(stem: str) -> None:
    call = dict(load_calls())[stem]
    turns = call["turns"]
    for t in turns:
        words = len(t["text"].split())
        long_rep = t["speaker"] == "rep" and words >= 80
        assert ("long_rep_turn" in t["expect"]) == long_rep, (words, t["text"][:60])
        if not long_rep:
            assert words <= 60, (words, t["text"][:60])
    holds = brush_offs = 0
    for prev, t in zip([None, *turns], turns, strict=False):
        after_objection = (prev is not None and prev["speaker"] == "customer"
                           and any(x.startswith("objection:") for x in prev["expect"]))
        if "no_acknowledgement" in t["expect"]:
            assert after_objection, t["text"][:60]
        pause = t["pause_before_ms"]
        if after_objection and t["speaker"] == "rep":
            if "no_acknowledgement" in t["expect"]:
                assert 200 <= pause <= 250, (pause, t["text"][:60])
            else:
                assert 1300 <= pause <= 1600, (pause, t["text"][:60])
        elif not 300 <= pause <= 1100:
            holds += pause > 1100
            brush_offs += pause == 250
            assert pause > 1100 or pause == 250, (pause, t["text"][:60])
    assert holds <= 1 and brush_offs <= 1
    pairs = sum(a["speaker"] == b["speaker"] for a, b in zip(turns, turns[1:], strict=False))
    assert pairs == 1, pairs


def main() -> None:
    """Print the line counts, then the call tag counts, one `name: value` per line."""
    rows = load_lines()
    for k, v in sorted(line_counts(rows).items()):
        print(f"{k}: {v}")
    tags: Counter = Counter()
    calls = load_calls()
    for _, call in calls:
        for t in call["turns"]:
            tags.update(t["expect"])
    print(f"calls: {len(calls)}")
    print(f"call_turns: {sum(len(call['turns']) for _, call in calls)}")
    for k, v in sorted(tags.items()):
        print(f"call_tag {k}: {v}")


if __name__ == "__main__":
    main()
