"""Small text helpers shared by the analysers: sentences, words, compiled patterns."""

from __future__ import annotations

import re
from functools import lru_cache

_SENTENCE_RE = re.compile(r"[^.?!;]+[.?!;]*")
_WORD_RE = re.compile(r"[a-z0-9']+")
_STOP = (
    "a an the and or but if so to of in on for with at by from up about into over after "
    "is are was were be been being am do does did have has had i you he she it we they me "
    "him her us them my your our their this that these those what which who whom whose "
    "when where why how can could would should will shall may might must not no yes just "
    "very really also too there here then than as its it's i'm you're we're they're don't "
    "okay ok yeah well so um uh like get got any some"
)
STOPWORDS = frozenset(_STOP.split())


def sentences(text: str) -> list[str]:
    """Split into sentences (ASR text often lacks punctuation: then it's one sentence)."""
    out = [s.strip() for s in _SENTENCE_RE.findall(text)]
    return [s for s in out if any(ch.isalnum() for ch in s)]


def words(text: str) -> list[str]:
    """Lower-cased word tokens (apostrophes kept: "don't", "we'll")."""
    return _WORD_RE.findall(text.lower().replace("\u2019", "'"))


def normalise(text: str) -> str:
    """Lower-case, curly apostrophes straightened, whitespace collapsed: what patterns see."""
    return " ".join(text.lower().replace("\u2019", "'").split())


def content_words(text: str) -> set[str]:
    """Stems (first 5 letters) of non-stopwords: a cheap overlap measure."""
    return {w[:5] for w in words(text) if w not in STOPWORDS and len(w) > 2}


@lru_cache(maxsize=4096)
def pattern(expr: str) -> re.Pattern[str]:
    """A playbook keyword as a compiled case-insensitive regex (cached)."""
    return re.compile(expr, re.IGNORECASE)


@lru_cache(maxsize=4096)
def phrase(expr: str) -> re.Pattern[str]:
    """A plain word or phrase (e.g. a filler, a competitor alias) matched on word boundaries."""
    return re.compile(r"(?<![a-z0-9])" + expr + r"(?![a-z0-9])", re.IGNORECASE)


def any_match(patterns: list[str], text: str) -> str | None:
    """First matched substring of any playbook regex in ``text`` (normalised), else None."""
    for expr in patterns:
        m = pattern(expr).search(text)
        if m:
            return m.group(0)
    return None


def all_matches(patterns: list[str], text: str) -> list[str]:
    return [m.group(0) for expr in patterns for m in pattern(expr).finditer(text)]


def clip_words(text: str, limit: int = 40) -> str:
    """At most ``limit`` words: keeps embedding cost per unit bounded on long turns."""
    parts = text.split()
    return text if len(parts) <= limit else " ".join(parts[:limit])
