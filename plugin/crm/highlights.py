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


OWN_SUBJECT_PREFIXES = ("Sales Coach report:", "Sales Coach call notes:")
# The signed report link every activity we write carries (plugin.reports.links).
OWN_LINK = re.compile(r"/panel/calls/[\w-]+\?s=")


def is_own_activity(act: dict[str, Any]) -> bool:
    """An activity Sales Coach wrote itself: it carries our call key, or (a portal or org
    where the key field was removed) our subject or signed report link."""
    if act.get("call_key"):
        return True
    subject = str(act.get("subject") or "")
    return subject.startswith(OWN_SUBJECT_PREFIXES) or bool(
        OWN_LINK.search(str(act.get("notes") or "")))


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def highlight_items(activities: list[dict[str, Any]], deals: list[dict[str, Any]],
                    limit: int = 8) -> list[dict[str, Any]]:
    """``{"topic", "text", "date", "kind"}`` per highlight: one per topic from its newest
    mention, competitors once each, then open deals. Our own activities are skipped and no
    sentence or text appears twice. ``activities`` are newest first."""
    items: list[dict[str, Any]] = []
    seen_topics: set[str] = set()
    seen_competitors: list[str] = []
    seen_text: set[str] = set()
    for act in activities:
        if is_own_activity(act):
            continue
        notes = strip_html(str(act.get("notes") or ""))
        if not notes:
            continue
        day = str(act.get("date") or "")[:10]
        kind = "call" if act.get("kind") in ("call", "Call") else str(act.get("kind") or "call")
        for sentence in _SENTENCE.split(notes):
            text = _clip(sentence)
            if not text or _norm(text) in seen_text:
                continue
            topic = next((t for t, pattern, _ in TOPICS
                          if t not in seen_topics and pattern.search(sentence)), None)
            if topic is not None:
                seen_topics.add(topic)
                seen_text.add(_norm(text))
                items.append({"topic": topic, "text": text, "date": day, "kind": kind})
        new = [c for c in competitors_in(notes) if c not in seen_competitors]
        if new:
            seen_competitors += new
            items.append({"topic": "competitor", "text": ", ".join(new), "date": day,
                          "kind": kind, "competitors": new})
    for deal in deals:
        parts = [str(deal.get("name") or "deal"), str(deal.get("stage") or "")]
        if money(deal.get("amount")):
            parts.append(money(deal.get("amount")))
        if deal.get("close_date"):
            parts.append("closes " + short_date(str(deal["close_date"])))
        text = ", ".join(p for p in parts if p)
        if _norm(text) not in seen_text:
            seen_text.add(_norm(text))
            items.append({"topic": "deal", "text": text,
                          "date": str(deal.get("close_date") or "")[:10], "kind": "deal"})
    return items[:limit]


def highlight_line(item: dict[str, Any]) -> str:
    """The citable line of one highlight item (what the coach and the widgets show)."""
    when, kind = short_date(str(item.get("date") or "")), item.get("kind") or "call"
    if item["topic"] == "deal":
        return "Open deal: " + str(item["text"])
    if item["topic"] == "competitor":
        names = list(item.get("competitors") or [item["text"]])
        return (f"Mentioned competitor{'s' if len(names) > 1 else ''} {', '.join(names)} "
                f"on the {when} {kind}")
    phrase = next(p for t, _, p in TOPICS if t == item["topic"])
    return f"{phrase} on the {when} {kind}: {item['text']}"


def build_highlights(activities: list[dict[str, Any]], deals: list[dict[str, Any]],
                     limit: int = 8) -> tuple[str, ...]:
    """Lines for the coach and the rep (``highlight_items`` as sentences), e.g. "Raised
    budget concerns on the 3 Nov call: …"."""
    return tuple(highlight_line(i) for i in highlight_items(activities, deals, limit))
