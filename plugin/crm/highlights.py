"""Short, citable lines from CRM history ("Raised budget concerns on the 3 Nov call: …").

Pure text work over normalised activities and deals, so both adapters share it.
"""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

COMPETITORS = ("Gong", "Chorus", "Clari", "Salesloft", "Outreach", "Avoma", "Jiminny", "Wingman",
               "ExecVision", "Mindtickle", "Highspot", "Seismic", "Dialpad", "Balto", "Cogito")

# topic -> (pattern, phrase used in the highlight)
TOPICS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("budget", re.compile(r"\b(budget|price|pricing|cost|expensive|discount|afford|ROI|payback)"
                          r"\b", re.I), "Raised budget concerns"),
    ("timeline", re.compile(r"\b(Q[1-4]|end of (the )?(quarter|year|month)|timeline|deadline|"
                            r"next quarter|go[- ]live|January|February|March|April|May|June|"
                            r"July|August|September|October|November|December)\b"),
     "Talked timeline"),
    ("authority", re.compile(r"\b(sign[- ]off|approv\w*|decision[- ]maker|budget owner|CFO|"
                             r"procurement|RFP|supplier list)\b", re.I),
     "Described the decision process"),
    ("next_step", re.compile(r"\b(next step|follow[- ]up|send (the )?proposal|call (us )?back|"
                             r"book (a|the)|schedule)\b", re.I), "Agreed a next step"),
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_TAGS = re.compile(r"<[^>]+>")


def strip_html(text: str) -> str:
    """Plain text of a CRM rich-text body (HubSpot call/note bodies are HTML)."""
    text = re.sub(r"(?i)<\s*(br|/p|/div|/li)\s*/?>", "\n", text or "")
    text = html.unescape(_TAGS.sub("", text))
    return re.sub(r"[ \t]+", " ", re.sub(r"\n\s*\n+", "\n", text)).strip()


def short_date(iso: str) -> str:
    """'2026-11-03…' -> '3 Nov' (the original string if it is not a date)."""
    try:
        d = date.fromisoformat(iso[:10])
    except ValueError:
        return iso
    return f"{d.day} {d.strftime('%b')}"


def _clip(sentence: str, limit: int = 120) -> str:
    sentence = sentence.strip().rstrip(".")
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rsplit(" ", 1)[0] + "…"


def competitors_in(text: str) -> list[str]:
    return [c for c in COMPETITORS if re.search(rf"\b{re.escape(c)}\b", text)]


def money(amount: Any) -> str:
    try:
        value = float(amount)
    except (TypeError, ValueError):
        return ""
    return f"${value:,.0f}"


def build_highlights(activities: list[dict[str, Any]], deals: list[dict[str, Any]],
                     limit: int = 8) -> tuple[str, ...]:
    """Lines for the coach and the rep: one per topic (most recent mention), competitors,
    then open deals. ``activities`` are newest first with ``date``, ``kind`` and ``notes``."""
    lines: list[str] = []
    seen_topics: set[str] = set()
    seen_competitors: list[str] = []
    for act in activities:
        notes = strip_html(str(act.get("notes") or ""))
        if not notes:
            continue
        when = short_date(str(act.get("date") or ""))
        kind = "call" if act.get("kind") in ("call", "Call") else str(act.get("kind") or "call")
        for topic, pattern, phrase in TOPICS:
            if topic in seen_topics:
                continue
            for sentence in _SENTENCE.split(notes):
                if pattern.search(sentence):
                    lines.append(f"{phrase} on the {when} {kind}: {_clip(sentence)}")
                    seen_topics.add(topic)
                    break
        new = [c for c in competitors_in(notes) if c not in seen_competitors]
        if new:
            seen_competitors += new
            lines.append(f"Mentioned competitor{'s' if len(new) > 1 else ''} "
                         f"{', '.join(new)} on the {when} {kind}")
    for deal in deals:
        parts = [str(deal.get("name") or "deal"), str(deal.get("stage") or "")]
        if money(deal.get("amount")):
            parts.append(money(deal.get("amount")))
        if deal.get("close_date"):
            parts.append("closes " + short_date(str(deal["close_date"])))
        lines.append("Open deal: " + ", ".join(p for p in parts if p))
    return tuple(lines[:limit])
