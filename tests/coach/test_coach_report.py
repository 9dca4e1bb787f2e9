"""A whole scripted discovery call, turn by turn, ends in a complete report."""

from __future__ import annotations

import json
from typing import Any

from plugin.coach import CallReport, CoachSession, CustomerContext, Playbook
from plugin.nlp.embeddings import Embedder

CALL = [
    ("rep", "Hi Priya, thanks for making the time today. What prompted you to take this call?"),
    ("customer", "We lost two of our biggest accounts last quarter and nobody saw it coming."),
    ("rep", "That sounds painful. How do you keep track of account health right now?"),
    ("customer", "Mostly a shared spreadsheet that each CSM updates when they remember."),
    ("rep", "Got it. Who else would be involved in choosing a tool for this?"),
    ("customer", "I'd run it by our COO, she signs off on anything over ten thousand."),
    ("rep", "Makes sense. And what budget have you set aside for this project?"),
    ("customer", "Sounds great so far, but honestly the price you mentioned is above our budget."),
    ("rep", "I hear you, that's a fair concern. What were you expecting to invest?"),
    ("customer", "Something closer to twenty thousand a year."),
    ("rep", "Understood. We also hear a lot about Gainsight, are you looking at anyone else?"),
    ("customer", "We had a demo from Gainsight but it felt heavy for our team."),
    ("rep", "When would you need this in place, is there a deadline?"),
    ("customer", "Ideally before our renewals season starts in March."),
    ("customer", "How quickly could we get started if we went ahead?"),
    ("rep", "Most teams are live in three weeks. I'll send you a proposal with a pilot option "
            "by Friday, and let's book a call with your COO next Tuesday."),
    ("customer", "Perfect, I'll loop her in and send the invite."),
]


def _run(pb: Playbook, ctx: CustomerContext | None = None) -> tuple[CoachSession, CallReport]:
    s = CoachSession(pb, ctx)
    t = 0
    for seq, (speaker, text) in enumerate(CALL):
        dur = len(text.split()) * 400 + 300
        start = t + 1500
        from plugin.coach import Turn
        s.on_turn(Turn(seq, speaker, text, start, start + dur))  # type: ignore[arg-type]
        t = start + dur
        s.on_tick(t + 500, None)
    return s, s.report()


def test_scripted_call_report_has_scores_objections_and_next_steps(
        pb: Playbook, embedder: Embedder) -> None:
    ctx = CustomerContext(highlights=("Asked about budget tiers on the 3 Nov call",))
    s, rep = _run(pb, ctx)
    d = rep.to_dict()
    json.dumps(d)  # JSON-ready
    # scores: every named score present, 0..100
    assert set(d["scores"]) >= {"discovery", "listening", "objection_handling", "next_steps",
                                "delivery", "overall"}
    assert all(0 <= v <= 100 for v in d["scores"].values())
    # objections: price (despite positive words) is detected; the report claims only the
    # concerns the judge is sure of (a quiet price moment stays in the transcript)
    labels = [o["label"] for o in d["objections"]]
    assert "authority" in labels
    assert ("objection", "price") in [(m["kind"], m["label"]) for m in d["moments"]]
    for o in d["objections"]:
        assert o["response"] and o["status"] in ("handled", "answered", "open")
    if "price" in labels:
        price = next(o for o in d["objections"] if o["label"] == "price")
        assert price["response"].startswith("I hear you") and price["acknowledged"] is True
    # competitor, buying signal, next steps and action items
    kinds = {m["kind"] for m in d["moments"]}
    assert {"objection", "competitor", "buying_signal", "next_step"} <= kinds
    assert d["metrics"]["competitors"] == {"Gainsight": 2}
    assert any("proposal" in a["text"] and a["owner"] == "rep" for a in d["action_items"])
    assert any(a["owner"] == "customer" for a in d["action_items"])
    assert d["next_steps"]
    # discovery: questions counted and the checklist mostly covered
    assert d["metrics"]["questions"]["total"] >= 6
    assert d["metrics"]["checklist"]["budget"] and d["metrics"]["checklist"]["authority"]
    assert d["metrics"]["checklist"]["timeline"] and d["metrics"]["checklist"]["next_step"]
    # timeline: one point per turn with the series the charts need
    assert len(d["timeline"]) == len(CALL)
    assert {"t_ms", "talk_ratio", "rep_sentiment", "customer_sentiment", "pace"} <= \
        set(d["timeline"][-1])
    # tips and summary
    assert 1 <= len(d["tips"]) <= 3
    assert "Gainsight" in d["summary"] and "authority objection" in d["summary"]
    assert d["scores"]["next_steps"] >= 80
    # nudges respected the policy: never more than max_per_minute in any minute
    times = [n["at_ms"] for n in d["nudges"] if n["severity"] != "critical"]
    for t0 in times:
        assert sum(1 for t in times if t0 <= t < t0 + 60_000) <= pb.nudges.max_per_minute
    assert d["metrics"]["suppressed_nudges"] > 0


def test_a_rushed_pitch_scores_worse_than_a_discovery_call(pb: Playbook,
                                                           embedder: Embedder) -> None:
    _, good = _run(pb)
    s = CoachSession(pb)
    from plugin.coach import Turn
    pitch = ("Our platform is the best on the market and I guarantee you will cut churn in "
             "half. Unfortunately we can't do monthly billing. ")
    t = 0
    for seq in range(6):
        speaker: Any = "rep" if seq % 2 == 0 else "customer"
        text = pitch * 3 if speaker == "rep" else "Okay."
        s.on_turn(Turn(seq, speaker, text, t, t + (40_000 if speaker == "rep" else 1000)))
        t += 41_000
    bad = s.report()
    assert bad.scores["overall"] < good.scores["overall"]
    assert bad.scores["listening"] < good.scores["listening"]
    assert bad.scores["delivery"] < good.scores["delivery"]
    assert any("guarantee" in tip.lower() or "talked" in tip.lower() for tip in bad.tips)


def test_empty_session_report_is_valid(pb: Playbook) -> None:
    rep = CoachSession(pb, use_embeddings=False).report()
    assert rep.to_dict()["timeline"] == [] and 1 <= len(rep.tips) <= 3
