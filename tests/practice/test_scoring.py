"""Per-reply feedback: good replies outscore weak ones and the reasons say what is missing."""

from __future__ import annotations

from typing import Any

from plugin.practice import buyer
from plugin.practice.scenarios import get_scenario
from plugin.practice.scoring import Meaning, inaccuracies, score_reply

from .replies import GOOD_ROI, WEAK_ROI


def _score(text: str, meaning: Meaning, playbook: Any, scenario_id: str = "cfo-discovery",
           stage: int = 0) -> Any:
    s = get_scenario(scenario_id)
    assert s is not None
    st = buyer.stage_of(s, stage)
    return score_reply(text, s, st, st.phrasings[0], set(), playbook, meaning)


def test_good_reply_scores_higher_than_weak_on_every_dimension(meaning: Meaning,
                                                               playbook: Any) -> None:
    good = _score(GOOD_ROI, meaning, playbook)
    weak = _score(WEAK_ROI, meaning, playbook)
    assert good.quality == "good" and weak.quality == "weak"
    for dim in ("tone", "content", "strategy"):
        assert getattr(good, dim).score > getattr(weak, dim).score, dim
    assert good.overall >= 70 > weak.overall


def test_weak_reply_reasons_name_what_is_missing(meaning: Meaning, playbook: Any) -> None:
    weak = _score(WEAK_ROI, meaning, playbook)
    assert "Missing" in weak.content.reason
    assert "month-end close" in weak.content.reason  # the first missing key point's label
    assert "Acknowledge" in weak.strategy.reason
    assert "Hedging" in weak.tone.reason or "Filler" in weak.tone.reason
    assert set(weak.missing) == {"clarify_pain", "quantified_return", "proof"}


def test_improved_reply_adds_acknowledgement_missing_points_and_a_question(
        meaning: Meaning, playbook: Any) -> None:
    s = get_scenario("cfo-discovery")
    assert s is not None
    weak = _score("We save finance teams about 30 hours a month.", meaning, playbook)
    improved = weak.improved
    assert improved.startswith(s.objections[0].acknowledge)
    assert "30 hours a month" in improved  # the rep's good part is kept
    assert s.objections[0].key_points[0].examples[0] in improved  # missing clarify question
    assert improved.rstrip().endswith("?")


def test_paraphrased_key_point_is_recognised_by_meaning(meaning: Meaning, playbook: Any) -> None:
    fb = _score("That's fair. Other clients your size cut their month-end close by four days "
                "and saved a lot of reconciliation work.", meaning, playbook)
    assert "quantified_return" in fb.covered


def test_risky_promise_and_over_policy_discount_are_flagged(meaning: Meaning,
                                                            playbook: Any) -> None:
    fb = _score("I understand. I can guarantee you'll see a return in a month, and I'll give "
                "you 40% off today.", meaning, playbook, "procurement-price")
    assert fb.risky and fb.quality == "weak" and fb.overall <= 32
    assert {"guarantee", "discount"} <= {f["kind"] for f in fb.flaws}
    assert "discount" in fb.content.reason.lower()


def test_prices_not_in_the_scenario_are_inaccurate() -> None:
    s = get_scenario("cfo-discovery")
    assert s is not None
    assert inaccuracies("It's only $9 per card per month.", s) == [
        "$9 is not in the price list"]
    assert inaccuracies("The Growth plan is $12 per active card per month.", s) == []


def test_closing_without_a_next_step_is_not_good(meaning: Meaning, playbook: Any) -> None:
    fb = _score("Thanks, it was great talking to you.", meaning, playbook,
                stage=2)
    assert fb.quality != "good"
    assert "next step" in fb.strategy.reason


def test_scoring_is_deterministic(meaning: Meaning, playbook: Any) -> None:
    a = _score(GOOD_ROI, meaning, playbook).to_dict()
    b = _score(GOOD_ROI, meaning, playbook).to_dict()
    assert a == b
