"""Filler words ("um", "you know", "basically"…) per the playbook's list."""

from __future__ import annotations

import re

from plugin.coach.text import normalise, phrase

# "like" is a filler only when set off ("it's, like, fine" / "like, we"), not "I like it".
_LIKE_FILLER = re.compile(r"(?:^|,\s*)like,|,\s*like\s|\blike\s+(?:um|uh)\b", re.IGNORECASE)


def find_fillers(text: str, fillers: list[str]) -> list[str]:
    """Every filler occurrence, in the order of the playbook list (repeats kept)."""
    t = normalise(text)
    found: list[str] = []
    for f in fillers:
        if f == "like":
            found.extend("like" for _ in _LIKE_FILLER.finditer(t))
        else:
            found.extend(f for _ in phrase(re.escape(f)).finditer(t))
    return found
