"""CoachSession: nudge policy, timers, live metrics and tailoring, turn by turn."""

from __future__ import annotations

from typing import Any

from plugin.coach import CoachSession, CustomerContext, Nudge, Playbook, Turn, Word
from plugin.coach.nudges import NudgeGate
from plugin.nlp.embeddings import Embedder


def _n(key: str, at_ms: int, severity: Any = "warn") -> Nudge:
    return Nudge("x", severity, "Do the thing", key, at_ms, None, key)


def test_gate_limits_nudges_per_minute() -> None:
    gate = NudgeGate(max_per_minute=2, repeat_window_s=0, min_severity="info")
    # three different warnings within a minute: the third is held back
    assert [gate.offer(_n(k, t)) for k, t in [("a", 0), ("b", 10_000), ("c", 20_000)]] == \
        [True, True, False]
    # a minute after the first one, there is room again
    assert gate.offer(_n("c", 60_500))
    assert gate.suppressed == 1


def test_gate_does_not_repeat_the_same_advice_within_the_window() -> None:
    gate = NudgeGate(max_per_minute=10, repeat_window_s=180, min_severity="info")
    assert gate.offer(_n("talk_ratio", 0))
    assert not gate.offer(_n("talk_ratio", 120_000))
    assert gate.offer(_n("talk_ratio", 181_000))


def test_gate_lets_critical_through_a_full_minute_but_never_repeats_it() -> None:
    gate = NudgeGate(max_per_minute=1, repeat_window_s=180, min_severity="info")
    assert gate.offer(_n("a", 0))
    assert gate.offer(_n("risky", 1000, "critical"))
    assert not gate.offer(_n("risky", 2000, "critical"))


def test_info_nudges_leave_a_slot_for_warnings() -> None:
    gate = NudgeGate(max_per_minute=2, repeat_window_s=0, min_severity="info")
    assert gate.offer(_n("i1", 0, "info"))
    assert not gate.offer(_n("i2", 1000, "info"))
    assert gate.offer(_n("w1", 2000, "warn"))


def test_critical_nudges_spend_no_slot_of_the_minute() -> None:
    gate = NudgeGate(max_per_minute=2, repeat_window_s=0, min_severity="info")
    assert gate.offer(_n("risky:a", 0, "critical"))
    assert gate.offer(_n("risky:b", 1000, "critical"))
    # two compliance nudges went out, and both coaching slots are still free
    assert gate.offer(_n("w1", 2000)) and gate.offer(_n("w2", 3000))
    assert not gate.offer(_n("w3", 4000))


def test_a_follow_up_rides_on_the_slot_of_the_nudge_it_continues() -> None:
    gate = NudgeGate(max_per_minute=2, repeat_window_s=180, min_severity="info")
    assert gate.offer(_n("objection:price", 0))
    assert gate.offer(_n("w1", 1000))
    assert gate.shown("objection:price", 90_000, 5000)
    assert not gate.offer(_n("missing_acknowledgement:price", 5000, "info"))
    assert gate.offer(_n("missing_acknowledgement:price", 5000, "info"), follow_up=True)
    # a follow-up still never repeats within the window
    assert not gate.offer(_n("missing_acknowledgement:price", 9000, "info"), follow_up=True)
    assert not gate.shown("objection:price", 90_000, 120_000)


def test_an_unacknowledged_answer_is_nudged_right_after_its_objection_nudge(
        pb: Playbook) -> None:
    s = CoachSession(pb, use_embeddings=False)
    s.on_turn(Turn(0, "rep", "The plan for your team would be forty a seat.", 0, 3000))
    first = s.on_turn(Turn(1, "customer", "That's too expensive, it's way over our budget.",
                           3500, 6500))
    assert [n.rule for n in first.nudges] == ["objection:price"]
    answer = s.on_turn(Turn(2, "rep", "We have a cheaper plan at twenty a seat.", 7500, 10_000))
    assert "missing_acknowledgement" in [n.rule for n in answer.nudges]


def test_monologue_clock_nudges_while_the_rep_is_still_talking(pb: Playbook) -> None:
    s = CoachSession(pb, use_embeddings=False)
    s.on_turn(Turn(0, "customer", "So tell me about the product.", 0, 2000))
    # the rep starts talking at 2.5 s and no turn has ended yet
    assert s.on_tick(2500, "rep") == []
    assert s.on_tick(60_000, "rep") == []
    nudges = s.on_tick(2500 + 76_000, "rep")
    assert [n.rule for n in nudges] == ["monologue"]
    assert nudges[0].category == "listening" and nudges[0].turn_seq is None
    # the same advice is not repeated a few seconds later
    assert s.on_tick(2500 + 80_000, "rep") == []


def test_monologue_clock_resets_when_the_customer_speaks(pb: Playbook) -> None:
    s = CoachSession(pb, use_embeddings=False)
    s.on_tick(0, "rep")
    s.on_tick(50_000, "customer")
    assert s.on_tick(100_000, "rep") == []  # a new stretch started at 100 s


def test_talk_ratio_nudge_and_metrics(pb: Playbook, script: Any) -> None:
    s = CoachSession(pb, use_embeddings=False)
    pitch = ("Our platform gives every customer success manager a single view of account "
             "health, renewal dates, product usage and support tickets in one place. ")
    got: list[Nudge] = []
    for _ in range(4):
        got += s.on_turn(script.turn("rep", pitch * 2, duration_ms=25_000)).nudges
        got += s.on_turn(script.turn("customer", "Okay.", duration_ms=1000)).nudges
    m = s.metrics()
    assert m["talk_ratio"] > 0.9
    assert m["longest_monologue_s"] == 25.0 and m["longest_customer_story_s"] == 1.0
    assert "talk_ratio" in [n.rule for n in got]


def test_pace_uses_word_timings_and_nudges_when_rushing(pb: Playbook) -> None:
    s = CoachSession(pb, use_embeddings=False)
    words = tuple(Word(f"w{i}", i * 250, i * 250 + 200) for i in range(120))  # 240 wpm
    r = s.on_turn(Turn(0, "rep", " ".join(w.text for w in words), 0, 30_000, words))
    assert r.metrics["pace_wpm"] is not None and r.metrics["pace_wpm"] > 230
    assert "pace" in [n.rule for n in r.nudges]


def test_filler_burst_nudges_once(pb: Playbook, script: Any) -> None:
    s = CoachSession(pb)
    r1 = s.on_turn(script.turn("rep", "Um, so, basically, you know, it syncs with your CRM."))
    r2 = s.on_turn(script.turn("rep", "Uh, basically, um, it is, like, really simple."))
    rules = [n.rule for n in r1.nudges + r2.nudges]
    assert rules.count("filler_burst") == 1
    assert s.metrics()["fillers"] == 7


def test_repeated_interruptions_are_nudged(pb: Playbook) -> None:
    s = CoachSession(pb, use_embeddings=False)
    out = []
    t = 0
    for i in range(3):
        s.on_turn(Turn(2 * i, "customer", "We have been thinking about how to", t, t + 5000))
        out += s.on_turn(Turn(2 * i + 1, "rep", "Right, and our tool does that.",
                              t + 3000, t + 6000)).nudges
        t += 10_000
    assert s.metrics()["interruptions"] == 3
    assert "interruptions" in [n.rule for n in out]


def test_price_objection_nudge_cites_the_crm_highlight(pb: Playbook, script: Any) -> None:
    ctx = CustomerContext(highlights=("Opened a ticket about login issues",
                                      "Raised budget on the 3 Nov call"))
    s = CoachSession(pb, ctx)
    r = s.on_turn(script.turn("customer", "Honestly it's too expensive for us."))
    nudge = next(n for n in r.nudges if n.category == "objection")
    assert nudge.rule == "objection:price" and nudge.turn_seq == 0
    assert "budget" in nudge.text.lower() and "3 Nov" in nudge.text


def test_competitor_objection_nudge_uses_the_battlecard(pb: Playbook, script: Any,
                                                        embedder: Embedder) -> None:
    s = CoachSession(pb)
    r = s.on_turn(script.turn("customer", "Gainsight offered us a better deal, to be honest."))
    assert r.analysis.competitors == ["Gainsight"]
    text = " ".join(n.text for n in r.nudges)
    assert "Gainsight" in text and "3 weeks" in text


def test_unacknowledged_objection_answer_is_recorded_and_nudged(pb: Playbook,
                                                                script: Any) -> None:
    roomy = pb.model_copy(update={"nudges": pb.nudges.model_copy(update={"max_per_minute": 5})})
    s = CoachSession(roomy)
    s.on_turn(script.turn("customer", "It's too expensive for us."))
    r = s.on_turn(script.turn("rep", "Our price includes onboarding and support.", gap_ms=200))
    assert "missing_acknowledgement" in [n.rule for n in r.nudges]
    assert any(m.kind == "missing_acknowledgement" for m in r.moments)
    rec = s.s.objections[0]
    assert rec.acknowledged is False and rec.pause_ms == 200


def test_unanswered_customer_question_is_flagged(pb: Playbook, script: Any) -> None:
    s = CoachSession(pb, use_embeddings=False)
    s.on_turn(script.turn("customer", "Does it integrate with Zendesk?"))
    r = s.on_turn(script.turn("rep", "Great, so let me show you the dashboard."))
    assert [m.kind for m in r.moments].count("unanswered_question") == 1
    s.on_turn(script.turn("customer", "And does it support single sign-on?"))
    r = s.on_turn(script.turn("rep", "Yes, single sign-on is included on every plan."))
    assert not [m for m in r.moments if m.kind == "unanswered_question"]
    assert s.metrics()["unanswered_questions"] == 1


def test_late_call_checklist_reminder(pb: Playbook, script: Any) -> None:
    s = CoachSession(pb, use_embeddings=False)
    s.on_turn(script.turn("rep", "What budget have you set aside for this project?"))
    early = s.on_tick(5 * 60_000, None)
    late = s.on_tick(16 * 60_000, None)
    assert early == []
    keys = [n.key for n in late]
    assert "checklist:budget" not in keys  # already covered
    assert any(k.startswith("checklist:") for k in keys)
    assert all(n.category in ("checklist", "discovery") for n in late)


def test_falling_customer_sentiment_is_flagged(pb: Playbook, script: Any) -> None:
    s = CoachSession(pb, use_embeddings=False)
    got = []
    for text in ["This looks great, I love it!", "Hmm, okay.",
                 "Honestly this is frustrating and disappointing.",
                 "I'm annoyed, this is a terrible waste of our time."]:
        got += s.on_turn(script.turn("customer", text)).nudges
        s.on_turn(script.turn("rep", "I see."))
    assert s.metrics()["customer_sentiment_falling"]
    assert "sentiment_trend" in [n.rule for n in got]


def test_every_nudge_is_one_short_line_with_its_trigger(pb: Playbook, script: Any) -> None:
    s = CoachSession(pb, use_embeddings=False)
    r = s.on_turn(script.turn("rep", "I guarantee you'll never lose data. " * 10))
    n = r.nudges[0]
    assert n.severity == "critical" and n.rule == "risky_language" and n.turn_seq == 0
    assert "\n" not in n.text and len(n.text) <= 160


def test_untimed_turns_do_not_produce_pause_advice(pb: Playbook) -> None:
    # given practice-style turns without timestamps
    s = CoachSession(pb, use_embeddings=False)
    s.on_turn(Turn(0, "customer", "It's too expensive for us.", 0, 0))
    r = s.on_turn(Turn(1, "rep", "I hear you. What budget did you have in mind?", 0, 0))
    # then the pause is unknown rather than zero, and no pause nudge is given
    assert s.s.objections[0].pause_ms is None
    assert "pause_after_objection" not in [n.rule for n in r.nudges]
