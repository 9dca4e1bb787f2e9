"""Sentiment (VADER compound, -1..1) and tone (warmth, confidence, hedging, negativity)."""

from __future__ import annotations

import re
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

_HEDGES = re.compile(
    r"\b(maybe|perhaps|probably|possibly|i think|i guess|i suppose|sort of|kind of|"
    r"hopefully|might|not sure|i believe|somewhat|more or less|i feel like|try to)\b",
    re.IGNORECASE)
_WARM = re.compile(
    r"\b(thanks|thank you|appreciate|glad|great question|happy to|love|understand|"
    r"makes sense|fair|totally|absolutely|of course)\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def polarity(text: str) -> dict[str, float]:
    """VADER scores: neg, neu, pos, compound."""
    return dict(_vader().polarity_scores(text))


def sentiment(text: str) -> float:
    return float(polarity(text)["compound"])


def tone(text: str, n_words: int, negative_hits: int, acknowledges: bool,
         scores: dict[str, float] | None = None) -> dict[str, float]:
    """Tone dimensions in 0..1, from lexicon cues; meant for feedback, not for a verdict."""
    p = scores if scores is not None else polarity(text)
    n = max(n_words, 1)
    hedges = len(_HEDGES.findall(text))
    warm = len(_WARM.findall(text))
    hedging = min(1.0, hedges * 6.0 / n)
    warmth = min(1.0, 0.5 * p["pos"] * 3 + 0.25 * min(warm, 2) + (0.2 if acknowledges else 0.0))
    negativity = min(1.0, p["neg"] * 2.5 + 0.25 * negative_hits)
    confidence = max(0.0, min(1.0, 0.85 - hedging * 0.8 - (0.1 if n < 4 else 0.0)))
    return {"warmth": round(warmth, 3), "confidence": round(confidence, 3),
            "hedging": round(hedging, 3), "negativity": round(negativity, 3)}
