"""What a manager would stop is named and scored down, and the stronger answer drops it."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.practice import buyer
from plugin.practice.flaws import find_flaws, sentence_flaws, sentences
from plugin.practice.scenarios import Scenario, get_scenario
from plugin.practice.scoring import Meaning, quality_of, score_reply


def _s(sid: str) -> Scenario:
    scenario = get_scenario(sid)
    assert scenario is not None
    return scenario


def _kinds(text: str, sid: str) -> set[str]:
    return {f.kind for f in find_flaws(text, _s(sid))}


@pytest.mark.parametrize(("sid", "text", "kind"), [
    ("competitor-comparison", "Pipewise is garbage and their support is a joke.", "badmouth"),
    ("technical-evaluator", "We're ISO 27001 and FedRAMP certified.", "unsupported_claim"),
    ("cfo-discovery", "Every single customer closes in one day.", "unsupported_claim"),
    ("cfo-discovery", "It's only $9 a card.", "unsupported_claim"),
    ("procurement-price", "Fine, I'll give you 40% off.", "discount"),
    ("renewal-at-risk", "I'll throw in three months free.", "discount"),
    ("timing-stall", "I guarantee you'll double your demo requests.", "guarantee"),
    ("cfo-discovery", "You need to sign today or the price goes up.", "pushy_close"),
    ("cfo-discovery", "Did you catch the game last night? Great weather too.", "off_topic"),
    ("cfo-discovery", "Yes.", "one_word"),
])
def test_each_flaw_is_named(sid: str, text: str, kind: str) -> None:
    assert kind in _kinds(text, sid)


@pytest.mark.parametrize(("sid", "text"), [
    ("technical-evaluator", "We have a SOC 2 Type II report and encrypt at rest with AES-256."),
    ("competitor-comparison", "Pipewise is a solid product; we reach forecasts within 5%."),
    ("competitor-comparison", "Let's run the 30-day free pilot with one team."),
    ("procurement-price", "If you commit to two years I can offer 10% off."),
    ("renewal-at-risk", "You're right, a week without follow-up is a mess, and that's on us."),
    ("gatekeeper-cold-call", "Fleets like yours cut fuel costs by 12% with us."),
])
def test_supported_answers_carry_no_flaw(sid: str, text: str) -> None:
    assert _kinds(text, sid) == set()


def test_abbreviations_do_not_end_a_sentence() -> None:
    assert sentences("Can I speak to Mr. Alvarez? It's about e.g. fuel costs.") == [
        "Can I speak to Mr. Alvarez?", "It's about e.g. fuel costs."]


def test_labels_follow_the_score() -> None:
    assert [quality_of(v) for v in (40, 44, 45, 50, 69, 70, 100)] == [
        "weak", "weak", "partial", "partial", "partial", "good", "good"]


def _score(text: str, sid: str, meaning: Meaning, playbook: Any, stage: int = 0) -> Any:
    s = _s(sid)
    st = buyer.stage_of(s, stage)
    return score_reply(text, s, st, st.phrasings[0], set(), playbook, meaning)


@pytest.mark.parametrize(("sid", "text"), [
    ("competitor-comparison", "That's a fair question. Pipewise is garbage, honestly their "
                              "product is a joke. Our customers reach forecasts within 5% by "
                              "week three. What matters most to you?"),
    ("technical-evaluator", "Good question. Data is encrypted at rest with AES-256, and we are "
                            "FedRAMP High and ISO 27001 certified. Does that help?"),
    ("procurement-price", "I understand. What is the thirty percent based on? I'll give you 40% "
                          "off if you sign today."),
])
def test_a_flaw_caps_the_score_and_the_stronger_answer_drops_it(
        sid: str, text: str, meaning: Meaning, playbook: Any) -> None:
    fb = _score(text, sid, meaning, playbook)
    assert fb.flaws and fb.overall < 60 and fb.quality != "good"
    assert not any(sentence_flaws(p, _s(sid)) for p in sentences(fb.improved)), fb.improved
    assert any(f["label"].split()[0] in (fb.content.reason + fb.tone.reason + fb.strategy.reason)
               for f in fb.flaws)


def test_one_word_reply_scores_low_on_tone_too(meaning: Meaning, playbook: Any) -> None:
    fb = _score("Yes.", "cfo-discovery", meaning, playbook)
    assert fb.tone.score <= 30 and fb.overall <= 15 and fb.quality == "weak"


def test_stronger_answer_keeps_the_reps_own_action(meaning: Meaning, playbook: Any) -> None:
    text = ("That's fair. How many days does your close take today? I'll send you the case "
            "study from a logistics company tomorrow.")
    fb = _score(text, "cfo-discovery", meaning, playbook)
    assert "I'll send you the case study from a logistics company tomorrow." in fb.improved
