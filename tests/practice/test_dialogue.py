"""The local buyer listens: it answers questions from its facts, takes a discount literally,
reacts to flaws, and never asserts an offer the rep did not make."""

from __future__ import annotations

from typing import Any

from plugin.practice import buyer, dialogue
from plugin.practice.scenarios import Scenario, get_scenario


def _s(sid: str = "cfo-discovery") -> Scenario:
    scenario = get_scenario(sid)
    assert scenario is not None
    return scenario


def _reading(text: str, questions: list[str] | None = None, ack: bool = False,
             flaws: list[str] | None = None) -> dict[str, Any]:
    from plugin.practice.flaws import offered_discounts

    return {"text": text, "questions": questions or [], "acknowledged": ack,
            "discounts": offered_discounts(text),
            "flaws": [{"kind": k, "evidence": ""} for k in flaws or []], "words": 10}


def test_buyer_answers_the_reps_question_from_its_facts() -> None:
    s = _s()
    q = "How many days does your month-end close take today?"
    after = buyer.respond(s, buyer.initial_state(s), "partial", ["clarify_pain"],
                          reading=_reading("That's fair. " + q, [q], ack=True))
    assert "Nine days" in after["line"]
    assert after["patience"] == s.patience


def test_offered_discount_is_taken_literally_and_recorded() -> None:
    s = _s("procurement-price")
    text = "Okay, I can do 40% off."
    after = buyer.respond(s, buyer.initial_state(s), "weak", [], risky=True,
                          reading=_reading(text, flaws=["discount"]))
    assert "40% off" in after["line"] and "writing" in after["line"]
    assert after["offers"] == [{"discount_pct": 40.0, "turn": 1}]


def test_buyer_reacts_to_badmouthing_in_character() -> None:
    s = _s("competitor-comparison")
    after = buyer.respond(s, buyer.initial_state(s), "weak", [], risky=True,
                          reading=_reading("Pipewise is junk.", flaws=["badmouth"]))
    assert any(line in after["line"] for line in dialogue._FLAW_LINES["badmouth"])
    assert after["patience"] == s.patience - 1


def test_buyer_never_accepts_an_offer_the_rep_did_not_make() -> None:
    s = _s("competitor-comparison")
    state = buyer.initial_state(s)
    # handle the first objection, then answer the implementation one with the timeline only
    state = buyer.respond(s, state, "good", ["criteria", "differentiator"], reading=_reading(
        "Fair. What matters most to you? We reach forecasts within 5% by week three."))
    text = "You connect Salesforce through OAuth on day one; most teams are live in two weeks."
    state = buyer.respond(s, state, "good", ["timeline"], reading=_reading(text))
    assert state["stage"] == 2
    said = state["said"]
    assert dialogue.grounded(state["line"], said, dialogue.own_lines(s)), state["line"]
    assert "pilot" not in state["line"].lower().split("?")[0] or "pilot" in " ".join(said)


def test_grounding_check_flags_an_assertion_but_not_a_question() -> None:
    own: list[str] = []
    assert not dialogue.grounded("A pilot on our own data would settle it.", ["Hi."], own)
    assert dialogue.grounded("Would a pilot help?", ["Hi."], own)
    assert dialogue.grounded("A pilot on our own data would settle it.",
                             ["Let's run a pilot."], own)


def test_the_seed_varies_the_wording_deterministically() -> None:
    s = _s()

    def run(seed: int) -> list[str]:
        state = buyer.initial_state(s, seed=seed)
        lines = []
        for _ in range(2):
            state = buyer.respond(s, state, "weak", [], reading=_reading("Hmm."))
            lines.append(state["line"])
        return lines

    assert run(1) == run(1)
    assert len({tuple(run(seed)) for seed in range(6)}) > 1
