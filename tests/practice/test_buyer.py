"""The simulated buyer presses after weak answers, moves on after good ones, and ends."""

from __future__ import annotations

from plugin.practice import buyer
from plugin.practice.scenarios import Scenario, get_scenario


def _cfo() -> Scenario:
    scenario = get_scenario("cfo-discovery")
    assert scenario is not None
    return scenario


def test_buyer_opens_in_character_with_the_first_objection() -> None:
    s = _cfo()
    state = buyer.initial_state(s)
    assert state["line"].startswith("Margaret here.")
    assert s.objections[0].phrasings[0] in state["line"]


def test_weak_answer_escalates_and_costs_patience() -> None:
    s = _cfo()
    state = buyer.initial_state(s)
    after = buyer.respond(s, state, "weak", [])
    assert after["stage"] == 0
    assert after["patience"] == s.patience - 1
    assert s.objections[0].phrasings[1] in after["line"]  # the sharper phrasing
    assert any(p in after["line"] for p in s.persona.style.press)  # persona's own lead-in
    assert state["patience"] == s.patience  # input state untouched


def test_good_answer_moves_to_the_next_objection() -> None:
    s = _cfo()
    state = buyer.initial_state(s)
    after = buyer.respond(s, state, "good", ["clarify_pain", "quantified_return"], score=80)
    assert after["stage"] == 1
    assert after["results"][0]["status"] == "handled"
    assert after["results"][0]["best_score"] == 80
    assert s.objections[1].phrasings[0] in after["line"]
    assert any(r in after["line"] for r in s.objections[0].reactions.good)


def test_partial_answer_probes_the_first_missing_key_point() -> None:
    s = _cfo()
    after = buyer.respond(s, buyer.initial_state(s), "partial", ["clarify_pain"])
    assert after["stage"] == 0
    assert s.objections[0].key_points[1].probe in after["line"]
    # covering the missing point next time completes the objection
    done = buyer.respond(s, after, "good", ["quantified_return"])
    assert done["stage"] == 1


def test_objection_is_parked_after_max_attempts() -> None:
    s = _cfo()
    state = buyer.initial_state(s)
    for _ in range(s.max_attempts):
        state = buyer.respond(s, state, "partial", [])
    assert state["stage"] == 1
    assert state["results"][0]["status"] == "parked"


def test_buyer_ends_the_call_when_patience_runs_out() -> None:
    s = _cfo()
    state = buyer.initial_state(s)
    for _ in range(s.patience):
        state = buyer.respond(s, state, "weak", [])
    assert state["ended"] and state["outcome"] == "buyer_ended"
    assert s.closing.walkout in state["line"]


def test_risky_promise_is_never_accepted_as_good() -> None:
    s = _cfo()
    after = buyer.respond(s, buyer.initial_state(s), "good",
                          ["clarify_pain", "quantified_return"], risky=True)
    assert after["stage"] == 0
    assert s.persona.style.risky in after["line"]


def test_concrete_next_step_ends_with_agreement() -> None:
    s = _cfo()
    state = buyer.initial_state(s)
    state = buyer.respond(s, state, "good", ["clarify_pain", "quantified_return"])
    state = buyer.respond(s, state, "good", ["integration", "replaces_tools"])
    assert s.closing.ask in state["line"]
    state = buyer.respond(s, state, "good", ["concrete_next_step"])
    assert state["ended"] and state["outcome"] == "next_step_agreed"
    assert state["line"] == s.closing.agreed


def test_same_inputs_give_the_same_conversation() -> None:
    s = _cfo()

    def run() -> list[str]:
        state = buyer.initial_state(s)
        lines = [state["line"]]
        for q, cov in [("weak", []), ("partial", ["proof"]), ("good", ["clarify_pain"])]:
            state = buyer.respond(s, state, q, cov)  # type: ignore[arg-type]
            lines.append(state["line"])
        return lines

    assert run() == run()
