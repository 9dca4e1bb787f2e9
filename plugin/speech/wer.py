"""Word error rate with the usual normalisation, for benchmarks and tests.

Normalisation: lowercase, curly quotes folded, punctuation dropped (apostrophes inside
words kept, hyphens split words), simple numbers spelled out (0–999 999 and "%"), and a few
spelling variants unified, so "$5,000" and "five thousand dollars" do not count as errors.
"""

from __future__ import annotations

import re

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_VARIANTS = {"ok": "okay", "alright": "all right", "mr": "mister",
             "mrs": "missus", "dr": "doctor", "vs": "versus", "&": "and",
             # contractions, expanded (as Whisper's own English normaliser does)
             "i'm": "i am", "i'll": "i will", "i've": "i have", "i'd": "i would",
             "it's": "it is", "that's": "that is", "what's": "what is", "there's": "there is",
             "here's": "here is", "let's": "let us", "we're": "we are", "we'll": "we will",
             "we've": "we have", "you're": "you are", "you'll": "you will",
             "you've": "you have", "they're": "they are", "they'll": "they will",
             "they've": "they have", "don't": "do not", "doesn't": "does not",
             "didn't": "did not", "can't": "cannot", "can not": "cannot", "won't": "will not",
             "isn't": "is not", "aren't": "are not", "wasn't": "was not", "wouldn't": "would not",
             "couldn't": "could not", "shouldn't": "should not", "he's": "he is",
             "she's": "she is"}


def number_words(n: int) -> str:
    """0 ≤ n < 1 000 000 → English words ("two thousand four hundred")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    rest = n % 1000
    return number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_words(rest))


def _spell_number(match: re.Match[str]) -> str:
    currency, digits, suffix = match.group(1), match.group(2).replace(",", ""), match.group(3)
    if "." in digits or int(digits) >= 1_000_000:
        return match.group(0)
    words = number_words(int(digits))
    if suffix == "%":
        words += " percent"
    elif suffix.lower() == "k":
        words += " thousand"
    if currency:
        words += " dollars"
    return f" {words} "


def normalize(text: str) -> list[str]:
    """Text → normalised word list."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"(\$?)(\d[\d,]*(?:\.\d+)?)(%|k\b|)", _spell_number, text)
    text = re.sub(r"(?<=\d)(st|nd|rd|th)\b", "", text)
    text = text.replace("-", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    words: list[str] = []
    for w in text.split():
        words.extend(_VARIANTS.get(w, w).split())
    return words


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance over words."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` (0.0 = perfect; can exceed 1)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)
