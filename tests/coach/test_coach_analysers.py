"""Each analyser on realistic sentences and on paraphrases the playbook never saw."""

from __future__ import annotations

import pytest

from plugin.coach import Playbook, analyse_utterance
from plugin.coach.analysers.fillers import find_fillers
from plugin.coach.analysers.language import discounts
from plugin.coach.analysers.questions import find_questions, is_open
from plugin.nlp.embeddings import Embedder


def test_price_objection_with_positive_sentiment_is_still_a_price_objection(
        pb: Playbook, embedder: Embedder) -> None:
    a = analyse_utterance("Sounds great, but the price is above our budget.", "customer", pb)
    assert a.sentiment > 0.3  # lexicon sentiment is positive...
    assert a.objection == "price"  # ...and it is still an objection
    assert any(m.kind == "objection" and m.label == "price" for m in a.moments)


@pytest.mark.parametrize(("text", "label"), [
    # paraphrases without the playbook's keywords (not in the playbook, not in the data set)
    ("Our accounting people would choke on that invoice.", "price"),
    ("That figure is roughly double what we had pencilled in.", "price"),
    ("Could we revisit once our fiscal planning is done in the autumn?", "timing"),
    ("We're knee-deep in a platform migration until the summer.", "timing"),
    ("My VP of operations holds the purse strings on this one.", "authority"),
    ("The steering group would need to bless any new vendor.", "authority"),
    ("Our retention is great already, so I don't see where this helps.", "need"),
    ("We are evaluating two other vendors side by side right now.", "competitor"),
    ("Our in-house dashboards already do most of this.", "status_quo"),
])
def test_objection_paraphrase_is_detected(pb: Playbook, embedder: Embedder, text: str,
                                          label: str) -> None:
    a = analyse_utterance(text, "customer", pb)
    assert a.objection == label, a.detection.objection_scores if a.detection else None


@pytest.mark.parametrize("text", [
    "What does the onboarding process look like for a team our size?",
    "We have about sixty people in customer support.",
    "That dashboard looks really useful.",
    "Can you tell me how the health score is calculated?",
])
def test_ordinary_customer_sentences_are_not_objections(pb: Playbook, embedder: Embedder,
                                                        text: str) -> None:
    assert analyse_utterance(text, "customer", pb).objection is None


def test_reps_do_not_raise_objections(pb: Playbook, embedder: Embedder) -> None:
    a = analyse_utterance("If the price is too expensive for you, we can talk about budget.",
                          "rep", pb)
    assert a.objection is None
    assert not [m for m in a.moments if m.kind == "objection"]


def test_competitor_alias_is_recognised_and_named(pb: Playbook) -> None:
    a = analyse_utterance("We had a look at churn zero last year.", "customer", pb,
                          use_embeddings=False)
    assert a.competitors == ["ChurnZero"]
    assert any(m.kind == "competitor" and m.label == "ChurnZero" for m in a.moments)


def test_buying_signal_paraphrase_is_detected(pb: Playbook, embedder: Embedder) -> None:
    a = analyse_utterance("How fast could your team get us up and running?", "customer", pb)
    assert a.buying_signal
    assert a.objection is None


def test_next_step_commitment_is_detected(pb: Playbook) -> None:
    a = analyse_utterance("I'll send the recap and the security pack by Thursday.", "rep", pb,
                          use_embeddings=False)
    assert a.next_step
    assert any(m.kind == "next_step" for m in a.moments)


def test_acknowledgement_is_found_by_rule_and_by_meaning(pb: Playbook,
                                                         embedder: Embedder) -> None:
    assert analyse_utterance("I hear you. What budget did you have in mind?", "rep",
                             pb).acknowledges
    by_meaning = analyse_utterance("Completely get why that would be a worry for you. "
                                   "What did you have in mind?", "rep", pb)
    assert by_meaning.acknowledges
    assert not analyse_utterance("Our price is fair and we are the best.", "rep",
                                 pb).acknowledges


def test_risky_language_flags_guarantees_legal_promises_and_discounts_over_policy(
        pb: Playbook) -> None:
    a = analyse_utterance("I guarantee it, and we can skip the legal review. I can do 30% off.",
                          "rep", pb, use_embeddings=False)
    assert any("guarantee" in r for r in a.risky)
    assert any("legal" in r for r in a.risky)
    assert any("30% discount" in r for r in a.risky)
    within = analyse_utterance("I can offer ten percent off for a two-year term.", "rep", pb,
                               use_embeddings=False)
    assert within.risky == []


def test_discounts_are_read_from_digits_and_words() -> None:
    assert discounts("we can take 20% off") == [20.0]
    assert discounts("a discount of 12 percent") == [12.0]
    assert discounts("forty percent off today") == [40.0]


def test_negative_phrasing_and_jargon_are_flagged(pb: Playbook) -> None:
    a = analyse_utterance("Unfortunately we can't do that, but our synergy with your "
                          "ecosystem play is strong.", "rep", pb, use_embeddings=False)
    assert "unfortunately" in a.negative and "we can't" in a.negative
    assert "synergy" in a.jargon
    assert a.tone["negativity"] > 0


def test_questions_are_split_open_and_closed() -> None:
    qs = find_questions("Thanks for that. How do you track renewals today? "
                        "Do you use Salesforce? what made you look at this now")
    assert [q["open"] for q in qs] == [True, False, True]
    assert not is_open("What time works for you?")


def test_fillers_count_set_off_like_but_not_the_verb(pb: Playbook) -> None:
    text = "Um, so basically it's, like, you know, really fast. I like that you asked."
    assert sorted(find_fillers(text, pb.fillers)) == ["basically", "like", "um", "you know"]


def test_tone_reports_hedging(pb: Playbook) -> None:
    hedgy = analyse_utterance("I think maybe it could probably work, I guess.", "rep", pb,
                              use_embeddings=False)
    firm = analyse_utterance("It works. Teams your size go live in three weeks.", "rep", pb,
                             use_embeddings=False)
    assert hedgy.tone["hedging"] > firm.tone["hedging"]
    assert hedgy.tone["confidence"] < firm.tone["confidence"]


def test_rules_only_mode_still_catches_keyword_objections(pb: Playbook) -> None:
    a = analyse_utterance("Honestly it's too expensive for us.", "customer", pb,
                          use_embeddings=False)
    assert a.objection == "price"
    assert a.to_dict()["objection"] == "price"


def test_invalid_speaker_is_rejected(pb: Playbook) -> None:
    with pytest.raises(ValueError, match="speaker"):
        analyse_utterance("hello", "moderator", pb)
