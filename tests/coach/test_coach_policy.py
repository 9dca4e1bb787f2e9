"""Nudge policy built for precision, and reports that state only what happened."""

from __future__ import annotations

from plugin.coach import CoachSession, Playbook, Turn, Word
from plugin.coach.analysers.judge import Thresholds


def _timed(seq: int, speaker: str, text: str, start: int, wpm: int = 150) -> Turn:
    step = 60_000 // wpm
    ws = text.split()
    words = tuple(Word(w, start + i * step, start + i * step + step - 60)
                  for i, w in enumerate(ws))
    # The segment runs 600 ms past the last word, as a speech engine's segment does.
    return Turn(seq, speaker, text, start, start + len(ws) * step + 600, words)  # type: ignore[arg-type]


PRICE = "That is far too expensive for us, it is way over our budget."


def test_low_confidence_moments_are_quiet_and_spend_no_budget(pb: Playbook) -> None:
    s = CoachSession(pb)
    strict = s.detector.judge.thresholds
    s.nudge_at = {**strict.nudge, "objection": 1.01, "buying_signal": 1.01}
    # a price objection with no playbook keyword: only the judge's confidence decides
    r = s.on_turn(_timed(0, "customer", "We just do not have that kind of money this year.", 0))
    objections = [m for m in r.moments if m.kind == "objection"]
    assert objections and all(m.quiet for m in objections)
    assert not [n for n in r.nudges if n.category == "objection"]
    assert s.gate.suppressed == 0  # never offered, so nothing was spent or held
    report = s.report().to_dict()
    assert report["objections"] == []  # not sure enough to claim


def test_two_different_risky_lines_are_two_nudges_and_skip_the_cap(pb: Playbook) -> None:
    s = CoachSession(pb)
    s.gate.max_per_minute = 1
    s.on_turn(_timed(0, "customer", "We would need some movement on the number.", 0))
    first = s.on_turn(_timed(1, "rep", "I guarantee you will double your renewals by spring.",
                             4000))
    second = s.on_turn(_timed(2, "rep", "And I'll knock forty percent off if you sign today.",
                              9000))
    keys = [n.key for r in (first, second) for n in r.nudges if n.category == "risk"]
    assert len(keys) == 2 and len(set(keys)) == 2


def test_a_discount_is_nudged_even_after_another_risk_nudge(pb: Playbook) -> None:
    s = CoachSession(pb)
    s.on_turn(_timed(0, "rep", "I promise you'll never have downtime with us, guaranteed.", 0))
    r = s.on_turn(_timed(1, "rep", "Tell you what, I'll give you fifty percent off this year.",
                         6000))
    assert [n for n in r.nudges if n.category == "risk"]


def test_a_vague_promise_to_send_material_is_not_a_next_step(pb: Playbook) -> None:
    s = CoachSession(pb)
    s.on_turn(_timed(0, "rep", "I'll send over a few case studies and we can stay in touch.",
                     0))
    s.on_turn(_timed(1, "customer", "Sure, send whatever you have.", 5000))
    report = s.report().to_dict()
    assert report["next_steps"] == []
    assert any(c["kind"] == "next_step" and c["text"] == "no next step agreed"
               for c in report["claims"])


def test_a_refused_next_step_is_not_claimed(pb: Playbook) -> None:
    s = CoachSession(pb)
    s.on_turn(_timed(0, "rep", "Shall we book a demo with your team on Tuesday at ten?", 0))
    s.on_turn(_timed(1, "customer", "No, not yet, we are nowhere near that stage.", 5000))
    assert s.report().to_dict()["next_steps"] == []


def test_the_same_concern_raised_twice_is_counted_once(pb: Playbook) -> None:
    s = CoachSession(pb)
    s.nudge_at = {**s.nudge_at, "objection": 0.0}  # every detected objection counts
    s.on_turn(_timed(0, "customer", PRICE, 0))
    s.on_turn(_timed(1, "rep", "I understand. What budget did you have in mind?", 6000))
    s.on_turn(_timed(2, "customer", "Like I said, it is just too expensive for us.", 10000))
    report = s.report().to_dict()
    price = [o for o in report["objections"] if o["label"] == "price"]
    assert len(price) == 1
    assert price[0]["times_raised"] == 2 and price[0]["turns"] == [0, 2]
    assert price[0]["status"] == "open"  # raised again after the answer
    assert s.metrics()["objections"] == len(report["objections"])


def test_pause_is_measured_from_the_last_word_to_the_first_word(pb: Playbook) -> None:
    s = CoachSession(pb)
    s.nudge_at = {**s.nudge_at, "objection": 0.0}
    obj = _timed(0, "customer", PRICE, 0)
    last_word_end = obj.words[-1].end_ms
    reply = _timed(1, "rep", "I hear you. What number would work for you?", last_word_end + 1500)
    s.on_turn(obj)
    s.on_turn(reply)
    rec = s.report().to_dict()["objections"][0]
    assert rec["pause_ms"] == 1500  # the segment's 600 ms tail is not counted as speech


def test_targets_scale_to_a_one_minute_call(pb: Playbook) -> None:
    s = CoachSession(pb)
    s.on_turn(_timed(0, "rep", "Hi, it's Sam from Acme, is now still a good time?", 0))
    s.on_turn(_timed(1, "customer", "Yes, go ahead, I have a minute.", 4000))
    s.on_turn(_timed(2, "rep", "Great, I'll keep it short and call you back Thursday at two.",
                     40_000))
    report = s.report().to_dict()
    assert report["targets"]["questions_min"] is None
    assert not any(t.startswith("You asked") for t in report["tips"])


def test_a_long_call_keeps_the_playbook_question_target(pb: Playbook) -> None:
    s = CoachSession(pb)
    s.on_turn(_timed(0, "rep", "How do you handle renewals today?", 0))
    s.on_turn(_timed(1, "customer", "Mostly by hand.", 40 * 60_000))
    tg = s.report().to_dict()["targets"]
    assert tg["questions_min"] == pb.thresholds.questions_target_min


def test_every_summary_claim_names_the_turn_it_rests_on(pb: Playbook) -> None:
    s = CoachSession(pb)
    s.nudge_at = {**s.nudge_at, "objection": 0.0}
    s.on_turn(_timed(0, "rep", "What does a lost account cost you", 0))
    s.on_turn(_timed(1, "customer", PRICE, 4000))
    report = s.report().to_dict()
    kinds = {c["kind"]: c for c in report["claims"]}
    assert kinds["objection"]["turn_seq"] == 1
    assert kinds["questions"]["turn_seq"] == 0  # a question without its "?"
    for c in report["claims"]:
        assert c["text"].lower()[:12] in report["summary"].lower()


def test_thresholds_default_when_uncalibrated() -> None:
    th = Thresholds.defaults()
    assert th.detect["objection"] == 0.5 and th.nudge["risky"] == 0.8
