"""Validator for the independent evaluation set in tests/data/eval.

Enforces the invariants of shared/eval/labelling.md section 10, the product's additions in
docs/labelling.md (acknowledgement, call_facts.json, groups.json) and the set's minimum counts,
so an edit that breaks a label rule or thins a contrast group fails here, not in a report.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any

import pytest

from tests.coach_eval import eval_counts as ec

LINE_KEYS = [
    "id", "speaker", "text", "objection", "question", "next_step", "risky",
    "buying_signal", "hard_negative", "acknowledgement",
]
BOOL_KEYS = ("next_step", "risky", "buying_signal", "hard_negative", "acknowledgement")
OBJECTIONS = {*ec.OBJECTION_TYPES, "none"}
TAG_RE = re.compile(
    r"^(objection:(price|timing|authority|need|competitor|status_quo)|question:(open|closed)"
    r"|next_step|risky|buying_signal|long_rep_turn|no_acknowledgement)$"
)
RUSHED, DELIBERATE, OTHER = (200, 250), (1300, 1600), (300, 1100)
# Real vendors of the kinds of tools the set talks about; an invented name must not be one.
REAL_VENDORS = {
    "salesforce", "hubspot", "gong", "zendesk", "slack", "microsoft", "google", "oracle", "sap",
    "workday", "shopify", "square", "xero", "sage", "quickbooks", "intuit", "samsara",
}


@pytest.fixture(scope="module")
def lines() -> list[dict[str, Any]]:
    return ec.load_lines()


@pytest.fixture(scope="module")
def calls() -> list[dict[str, Any]]:
    return ec.load_calls()


@pytest.fixture(scope="module")
def facts() -> dict[str, Any]:
    return ec.load_facts()


@pytest.fixture(scope="module")
def groups() -> dict[str, Any]:
    return ec.load_groups()


def _is_objection_turn(turn: dict[str, Any]) -> bool:
    return any(e.startswith("objection:") for e in turn["expect"])


# ---------------------------------------------------------------- lines.jsonl


def test_every_line_has_the_schema_keys_in_order_and_valid_values(lines):
    for x in lines:
        assert list(x) == LINE_KEYS, x["id"]
        assert re.fullmatch(r"i[0-9]{3}", x["id"]), x["id"]
        assert x["speaker"] in ("customer", "rep"), x["id"]
        assert isinstance(x["text"], str) and x["text"].strip() == x["text"] and x["text"], x["id"]
        assert x["objection"] in OBJECTIONS, x["id"]
        assert x["question"] in ("open", "closed", "none"), x["id"]
        for key in BOOL_KEYS:
            assert isinstance(x[key], bool), (x["id"], key)


def test_line_ids_are_unique_and_numbered_from_i001(lines):
    ids = [x["id"] for x in lines]
    assert ids == [f"i{n:03d}" for n in range(1, len(ids) + 1)]


def test_speaker_constraints_hold(lines):
    for x in lines:
        if x["speaker"] == "rep":
            assert x["objection"] == "none" and not x["buying_signal"], x["id"]
        else:
            assert not x["risky"] and not x["acknowledgement"], x["id"]


def test_hard_negative_implies_no_objection(lines):
    assert all(x["objection"] == "none" for x in lines if x["hard_negative"])


def test_no_two_lines_are_near_duplicates(lines):
    def tokens(text: str) -> frozenset[str]:
        return frozenset(re.findall(r"[a-z']+", text.lower()))

    toks = [(x["id"], tokens(x["text"])) for x in lines]
    close = [
        (a, b) for (a, s), (b, t) in itertools.combinations(toks, 2)
        if len(s & t) / len(s | t) >= 0.75
    ]
    assert not close


def test_every_label_has_its_minimum_count(lines):
    cust = [x for x in lines if x["speaker"] == "customer"]
    rep = [x for x in lines if x["speaker"] == "rep"]
    assert len(lines) >= 640
    assert 0.55 <= len(cust) / len(lines) <= 0.66
    objections = Counter(x["objection"] for x in cust)
    for kind in ec.OBJECTION_TYPES:
        assert objections[kind] >= 45, kind
    assert objections["none"] >= 150
    assert sum(x["hard_negative"] for x in cust) >= 70
    assert sum(x["risky"] for x in rep) >= 60
    assert sum(x["buying_signal"] for x in cust) >= 50
    assert sum(x["next_step"] for x in cust) > 0 and sum(x["next_step"] for x in rep) > 0
    assert sum(x["next_step"] for x in lines) >= 50
    questions = Counter(x["question"] for x in lines)
    assert questions["open"] >= 60 and questions["closed"] >= 60
    for spk in ("customer", "rep"):
        asked = {x["question"] for x in lines if x["speaker"] == spk}
        assert {"open", "closed"} <= asked, spk
    assert sum(x["question"] != "none" and "?" not in x["text"] for x in lines) >= 40
    assert sum(x["acknowledgement"] for x in rep) >= 50


def test_styles_have_their_minimum_share(lines, groups):
    g = groups["groups"]
    assert sum(ec.is_raw_stt(x["text"]) for x in lines) >= 0.4 * len(lines)
    assert sum(ec.is_long(x["text"]) for x in lines) >= 40
    assert len(g["sarcasm"]) >= 15
    assert len(g["implicit_objection"]) >= 60
    assert len(g["hedged_or_indirect"]) >= 30
    assert len(g["mixed_sentiment"]) >= 15


def test_contrast_groups_are_big_enough(groups):
    g = groups["groups"]
    assert len(g["careful_rep_contrast"]) >= 50
    assert len(g["praise_only"]) >= 30
    assert len(g["vague_deferral"]) >= 35
    assert len(g["question_word_or_rising_statement"]) >= 20
    assert len(g["answers_concern_without_acknowledgement"]) >= 40
    assert len(g["hard_negative_customer"]) >= 70
    for kind in ("guarantee", "discount_or_free", "legal_compliance", "badmouthing",
                 "feature_or_date", "pressure_close"):
        assert len(g[f"risky_{kind}"]) >= 8, kind


def test_group_members_carry_the_labels_their_group_implies(lines, groups):
    by_id = {x["id"]: x for x in lines}
    g = groups["groups"]
    assert set(itertools.chain.from_iterable(g.values())) <= set(by_id)
    for i in g["careful_rep_contrast"]:
        x = by_id[i]
        assert x["speaker"] == "rep" and not x["risky"] and x["hard_negative"], i
    for i in g["praise_only"]:
        x = by_id[i]
        assert x["speaker"] == "customer" and x["objection"] == "none" and not x["buying_signal"], i
    for i in g["vague_deferral"]:
        assert not by_id[i]["next_step"], i
    for i in g["question_word_or_rising_statement"]:
        x = by_id[i]
        assert x["question"] == "none", i
        assert "?" in x["text"] or re.match(r"(so |and )?(what|how|why|where|when|who|which|is)\b",
                                            x["text"].lower()), i
    for i in g["implicit_objection"]:
        assert by_id[i]["objection"] != "none", i
    for i in g["pain_statement"]:
        assert by_id[i]["objection"] == "none", i
    for i in g["answers_concern_without_acknowledgement"]:
        x = by_id[i]
        assert x["speaker"] == "rep" and not x["acknowledgement"], i
    for name in [k for k in g if k.startswith("risky_")]:
        for i in g[name]:
            assert by_id[i]["risky"], (name, i)
    assert set(g["acknowledgement_true"]) == {x["id"] for x in lines if x["acknowledgement"]}
    assert set(g["hard_negative_customer"]) == {
        x["id"] for x in lines if x["hard_negative"] and x["speaker"] == "customer"}
    assert set(g["hard_negative_rep"]) == {
        x["id"] for x in lines if x["hard_negative"] and x["speaker"] == "rep"}


def test_every_risky_line_is_in_a_risky_kind_group(lines, groups):
    kinds = set(itertools.chain.from_iterable(
        v for k, v in groups["groups"].items() if k.startswith("risky_")))
    assert {x["id"] for x in lines if x["risky"]} == kinds


def test_competitor_objections_name_many_invented_vendors(lines, groups):
    names = groups["vendor_names"]
    assert len(set(names)) == len(names)
    assert not {n.lower() for n in names} & REAL_VENDORS
    assert len(ec.vendors_in_competitor_lines(lines, names)) >= 30
    unnamed = [x for x in lines if x["objection"] == "competitor"
               and not any(n.lower() in x["text"].lower() for n in names)]
    assert any("other vendor" in x["text"].lower() for x in unnamed)


# ---------------------------------------------------------------- calls/*.json


def test_calls_follow_the_schema(calls):
    assert len(calls) >= 14
    ids = [c["id"] for c in calls]
    assert len(set(ids)) == len(ids)
    for c, path in zip(calls, sorted(ec.CALLS_DIR.glob("*.json")), strict=True):
        assert set(c) == {"id", "title", "scenario", "turns"}, path
        assert path.stem == c["id"] and c["id"].startswith("icall_"), path
        assert isinstance(c["title"], str) and isinstance(c["scenario"], str)
        assert 14 <= len(c["turns"]) <= 22, c["id"]
        for t in c["turns"]:
            assert set(t) == {"speaker", "text", "pause_before_ms", "expect"}, c["id"]
            assert t["speaker"] in ("rep", "customer") and t["text"]
            assert isinstance(t["pause_before_ms"], int) and t["pause_before_ms"] >= 0
            assert len(set(t["expect"])) == len(t["expect"])
            assert all(TAG_RE.match(e) for e in t["expect"]), (c["id"], t["expect"])


def test_call_turn_tags_respect_speaker_and_count_rules(calls):
    for c in calls:
        for i, t in enumerate(c["turns"]):
            where = (c["id"], i)
            assert sum(e.startswith("objection:") for e in t["expect"]) <= 1, where
            assert sum(e.startswith("question:") for e in t["expect"]) <= 1, where
            if t["speaker"] == "rep":
                assert not _is_objection_turn(t) and "buying_signal" not in t["expect"], where
            else:
                rep_only = {"risky", "long_rep_turn", "no_acknowledgement"}
                assert not rep_only & set(t["expect"]), where


def test_long_rep_turn_marks_exactly_the_long_rep_turns(calls):
    for c in calls:
        for i, t in enumerate(c["turns"]):
            n = ec.words(t["text"])
            is_long = t["speaker"] == "rep" and n >= 80
            assert ("long_rep_turn" in t["expect"]) == is_long, (c["id"], i)
            assert is_long or n <= 60, (c["id"], i, n)


def test_no_acknowledgement_only_follows_an_objection(calls):
    for c in calls:
        for i, t in enumerate(c["turns"]):
            if "no_acknowledgement" in t["expect"]:
                assert i > 0 and _is_objection_turn(c["turns"][i - 1]), (c["id"], i)


def test_rep_answers_to_objections_use_the_pause_bands(calls):
    for c in calls:
        exceptions = []
        for i, t in enumerate(c["turns"]):
            pause = t["pause_before_ms"]
            answers = i > 0 and t["speaker"] == "rep" and _is_objection_turn(c["turns"][i - 1])
            if answers:
                band = RUSHED if "no_acknowledgement" in t["expect"] else DELIBERATE
                assert band[0] <= pause <= band[1], (c["id"], i, pause)
            elif not OTHER[0] <= pause <= OTHER[1]:
                exceptions.append((i, t["speaker"], pause))
        if "cold_call" in c["id"]:
            # one rushed gatekeeper brush-off (rep, 250 ms) and one transfer on hold (longer)
            assert sorted(e[2] > OTHER[1] for e in exceptions) == [False, True], exceptions
            assert [e[1:] for e in exceptions if e[2] <= OTHER[1]] == [("rep", 250)]
        else:
            assert not exceptions, (c["id"], exceptions)


def test_each_call_has_exactly_one_back_to_back_pair(calls):
    for c in calls:
        spk = [t["speaker"] for t in c["turns"]]
        assert sum(a == b for a, b in itertools.pairwise(spk)) == 1, c["id"]


def test_calls_cover_the_moments_in_bulk(calls):
    turns = [t for c in calls for t in c["turns"]]
    tags = Counter(e for t in turns for e in t["expect"])
    kinds = {e for e in tags if e.startswith("objection:")}
    assert kinds == {f"objection:{k}" for k in ec.OBJECTION_TYPES}
    assert sum(v for k, v in tags.items() if k.startswith("objection:")) >= 30
    assert tags["risky"] >= 8 and tags["buying_signal"] >= 10 and tags["next_step"] >= 15
    assert tags["question:open"] + tags["question:closed"] >= 40
    answers = [t for c in calls for i, t in enumerate(c["turns"])
               if i and t["speaker"] == "rep" and _is_objection_turn(c["turns"][i - 1])]
    rushed = sum("no_acknowledgement" in t["expect"] for t in answers)
    assert 0.4 <= rushed / len(answers) <= 0.6


# ---------------------------------------------------------------- call_facts.json


def test_call_facts_cover_every_call_with_the_documented_keys(calls, facts):
    assert set(facts) == {c["id"] for c in calls}
    for cid, f in facts.items():
        assert set(f) == {"next_step_agreed", "next_step_turns", "distinct_objections",
                          "rep_questions", "notes"}, cid
        assert isinstance(f["next_step_agreed"], bool) and isinstance(f["notes"], str), cid


def test_call_facts_agree_with_the_turn_tags(calls, facts):
    for c in calls:
        f, turns = facts[c["id"]], c["turns"]
        tagged = [i for i, t in enumerate(turns) if "next_step" in t["expect"]]
        assert f["next_step_turns"] == tagged, c["id"]
        assert f["rep_questions"] == sum(
            t["speaker"] == "rep" and any(e.startswith("question:") for e in t["expect"])
            for t in turns)
        covered = []
        for kind, idx in f["distinct_objections"]:
            assert kind in ec.OBJECTION_TYPES and idx == sorted(idx) and idx, (c["id"], kind)
            for i in idx:
                assert 0 <= i < len(turns), (c["id"], i)
                assert f"objection:{kind}" in turns[i]["expect"], (c["id"], i)
            covered += idx
        assert sorted(covered) == [i for i, t in enumerate(turns) if _is_objection_turn(t)], c["id"]
        if f["next_step_agreed"]:
            assert any(turns[i]["speaker"] == "customer" for i in f["next_step_turns"]), c["id"]
        # the notes quote the agreed step, or say plainly that there is none
        assert f["notes"].startswith("No next step") == (not f["next_step_agreed"]), c["id"]


def test_several_calls_restate_a_concern(facts):
    restated = [
        cid for cid, f in facts.items() if any(len(i) > 1 for _, i in f["distinct_objections"])
    ]
    assert len(restated) >= 3
    agreed = [f["next_step_agreed"] for f in facts.values()]
    assert agreed.count(False) >= 1 and agreed.count(True) >= len(agreed) // 2


# ---------------------------------------------------------------- README


def test_readme_counts_section_is_current():
    assert ec.readme_section() == ec.markdown()
