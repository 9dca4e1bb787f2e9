"""Rep language the playbook flags: risky promises, discounts over policy, negative phrasing,
jargon."""

from __future__ import annotations

import re

from plugin.coach.playbook import Playbook
from plugin.coach.text import all_matches, normalise, phrase

_DISCOUNT = re.compile(
    r"(\d{1,3}(?:\.\d+)?)\s*(?:%|percent|per cent)\s*(?:off|discount|lower|cheaper|reduction)"
    r"|(?:discount|take off|knock off|cut)\D{0,20}?(\d{1,3}(?:\.\d+)?)\s*(?:%|percent|per cent)",
    re.IGNORECASE)


_NUMBER_WORDS = {"five": 5, "ten": 10, "fifteen": 15, "twenty": 20, "twenty-five": 25,
                 "twenty five": 25, "thirty": 30, "thirty-five": 35, "forty": 40, "fifty": 50,
                 "sixty": 60, "seventy": 70, "seventy-five": 75, "eighty": 80, "ninety": 90,
                 "a hundred": 100, "one hundred": 100}
_NUMBER_RE = re.compile(r"\b(" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
                        + r")(?=\s*(?:%|percent|per cent))", re.IGNORECASE)


def discounts(text: str) -> list[float]:
    """Discount percentages offered in ``text`` (digits or spoken numbers: "forty percent")."""
    text = _NUMBER_RE.sub(lambda m: str(_NUMBER_WORDS[m.group(1).lower()]), text)
    out = []
    for m in _DISCOUNT.finditer(text):
        out.append(float(m.group(1) or m.group(2)))
    return out


def find_risky(text: str, pb: Playbook) -> list[str]:
    """Guarantees, legal promises and discounts above the playbook's policy."""
    t = normalise(text)
    hits = all_matches(pb.risky.guarantees, t) + all_matches(pb.risky.legal, t)
    for pct in discounts(t):
        if pct > pb.risky.max_discount_pct:
            hits.append(f"{pct:g}% discount (policy max {pb.risky.max_discount_pct:g}%)")
    return hits


def find_negative(text: str, pb: Playbook) -> list[str]:
    return all_matches([r"\b" + p + r"\b" for p in pb.negative_phrases], normalise(text))


def find_jargon(text: str, pb: Playbook) -> list[str]:
    t = normalise(text)
    return [m.group(0) for j in pb.jargon for m in phrase(j).finditer(t)]
