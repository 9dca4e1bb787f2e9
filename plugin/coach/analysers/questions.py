"""Questions: found by '?' or by an interrogative opening (ASR text often lacks '?')."""

from __future__ import annotations

from plugin.coach.text import normalise, sentences

_OPEN_STARTS = ("what", "how", "why", "tell me", "walk me", "describe", "explain", "talk me",
                "help me understand", "in what way", "where", "when", "who", "which")
_CLOSED_STARTS = ("do ", "does ", "did ", "is ", "are ", "was ", "were ", "can ", "could ",
                  "would ", "will ", "should ", "have ", "has ", "had ", "shall ", "may ",
                  "am ", "isn't", "aren't", "don't", "doesn't", "won't", "wouldn't", "any ")
_LEAD_INS = ("so ", "and ", "but ", "okay ", "ok ", "well ", "now ", "also ", "just ", "and so ")
# "what time", "which day": interrogative but answered with one fact, so closed.
_CLOSED_OPENERS = ("what time", "which day", "what day", "when is", "who is", "where is")


def _strip_lead(s: str) -> str:
    s = s.lstrip(" ,-")
    changed = True
    while changed:
        changed = False
        for lead in _LEAD_INS:
            if s.startswith(lead):
                s = s[len(lead):].lstrip(" ,")
                changed = True
    return s


def is_open(question: str) -> bool:
    """Open questions invite a story ("how do you…"); closed ones a yes/no or a fact."""
    s = _strip_lead(normalise(question))
    if s.startswith(_CLOSED_OPENERS):
        return False
    return s.startswith(_OPEN_STARTS)


def find_questions(text: str) -> list[dict[str, object]]:
    """Each question sentence as ``{"text", "open"}``."""
    out: list[dict[str, object]] = []
    for sent in sentences(text):
        s = _strip_lead(normalise(sent))
        asked = sent.rstrip().endswith("?") or (
            s.startswith(_OPEN_STARTS + _CLOSED_STARTS) and not sent.rstrip().endswith(".")
            and len(s.split()) >= 3)
        if asked:
            out.append({"text": sent.strip(), "open": is_open(sent)})
    return out
