"""Competitor mentions (by name or alias) and keyword trackers from the playbook."""

from __future__ import annotations

import re

from plugin.coach.playbook import Playbook
from plugin.coach.text import any_match, normalise, phrase


def find_competitors(text: str, pb: Playbook) -> list[str]:
    """Names of the playbook competitors mentioned in ``text`` (each once)."""
    t = normalise(text)
    out = []
    for c in pb.competitors:
        names = [c.name.lower(), *(a.lower() for a in c.aliases)]
        if any(phrase(re.escape(n)).search(t) for n in names):
            out.append(c.name)
    return out


def mask_competitors(text: str, pb: Playbook) -> str:
    """Replace competitor names with "another vendor" so embeddings see the generic intent."""
    out = text
    for c in pb.competitors:
        for n in sorted([c.name, *c.aliases], key=len, reverse=True):
            out = phrase(re.escape(n.lower())).sub("another vendor", out)
    return out


def find_trackers(text: str, pb: Playbook) -> list[str]:
    t = normalise(text)
    return [tr.name for tr in pb.trackers if any_match(tr.keywords, t)]
