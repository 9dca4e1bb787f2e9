"""Nudge policy (rate limit, no repeats) and the wording of tailored nudges."""

from __future__ import annotations

import re
from collections import deque

from plugin.coach.playbook import Playbook
from plugin.coach.types import CustomerContext, Nudge, Severity

_RANK = {"info": 0, "warn": 1, "critical": 2}
MAX_LEN = 160

# Words in a CRM highlight that make it worth citing for an objection type.
HIGHLIGHT_CUES: dict[str, tuple[str, ...]] = {
    "price": ("budget", "price", "pricing", "cost", "discount", "expensive", "spend"),
    "timing": ("quarter", "timing", "timeline", "later", "freeze", "renewal", "deadline"),
    "authority": ("cfo", "vp", "approval", "procurement", "boss", "decision", "sign"),
    "need": ("pain", "churn", "goal", "problem", "priority", "challenge"),
    "competitor": ("competitor", "vendor", "evaluating", "alternative"),
    "status_quo": ("spreadsheet", "current", "renew", "in-house", "internal", "existing"),
}


class NudgeGate:
    """Lets a nudge through unless it repeats a key within the window or the minute is full.

    The per-minute budget counts coaching nudges only: critical ones (risky promises, a
    compliance matter) always get through and spend nothing, and a follow-up on a moment
    whose own nudge was just shown (acknowledge that objection, pause before answering it)
    rides on that nudge's slot. Info nudges leave the last slot of each minute free for
    warnings. Nothing skips the repeat window.
    """

    def __init__(self, max_per_minute: int, repeat_window_s: float, min_severity: str) -> None:
        self.max_per_minute = max_per_minute
        self.repeat_ms = int(repeat_window_s * 1000)
        self.min_rank = _RANK.get(min_severity, 0)
        self._sent: deque[int] = deque()
        self._last_by_key: dict[str, int] = {}
        self.suppressed = 0  # distinct (key, minute) pairs held back
        self._held: set[tuple[str, int]] = set()

    def _hold(self, nudge: Nudge) -> bool:
        mark = (nudge.key, nudge.at_ms // 60_000)
        if mark not in self._held:  # timers re-offer every tick: count each once a minute
            self._held.add(mark)
            self.suppressed += 1
        return False

    def shown(self, key: str, within_ms: int, now_ms: int) -> bool:
        """Whether a nudge of ``key`` was let through in the last ``within_ms``."""
        last = self._last_by_key.get(key)
        return last is not None and 0 <= now_ms - last <= within_ms

    def offer(self, nudge: Nudge, follow_up: bool = False) -> bool:
        """True if ``nudge`` may be shown now (and record it as shown). ``follow_up``: it
        continues a nudge shown moments ago, so it spends no slot of the minute."""
        if _RANK[nudge.severity] < self.min_rank:
            return self._hold(nudge)
        last = self._last_by_key.get(nudge.key)
        if last is not None and nudge.at_ms - last < self.repeat_ms:
            return self._hold(nudge)
        counted = nudge.severity != "critical" and not follow_up
        if counted:
            while self._sent and nudge.at_ms - self._sent[0] >= 60_000:
                self._sent.popleft()
            cap = self.max_per_minute
            if nudge.severity == "info" and cap > 1:
                cap -= 1
            if len(self._sent) >= cap:
                return self._hold(nudge)
            self._sent.append(nudge.at_ms)
        self._last_by_key[nudge.key] = nudge.at_ms
        return True


def make(category: str, severity: Severity, text: str, rule: str, at_ms: int,
         turn_seq: int | None, key: str | None = None) -> Nudge:
    """A nudge with its text trimmed to one short line."""
    line = " ".join(text.split())
    if len(line) > MAX_LEN:
        line = line[: MAX_LEN - 1].rstrip() + "…"
    return Nudge(category, severity, line, rule, at_ms, turn_seq, key or rule)


def cite_highlight(context: CustomerContext | None, cues: tuple[str, ...]) -> str | None:
    """The first CRM highlight mentioning one of ``cues`` (case-insensitive)."""
    if context is None:
        return None
    for h in context.highlights:
        low = h.lower()
        if any(c in low for c in cues):
            return h.strip().rstrip(".")
    return None


_FIGURE = re.compile(r"(\$|£|€)\s?\d[\d,.]*\s?(k|m|grand)?|\b\d[\d,.]*\s?(%|percent|per cent|"
                     r"dollars|pounds|euros|k\b|grand|a seat|per seat|a month|a year)|\b("
                     r"(ten|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|"
                     r"thousand)[a-z -]*(percent|dollars|pounds|euros|grand|a seat|a month|"
                     r"a year))", re.IGNORECASE)
_APPROVER = re.compile(r"\b(my|our|the)\s+(boss|manager|director|vp|cfo|ceo|coo|cto|cio|"
                       r"controller|owner|board|procurement( team)?|purchasing|legal( team)?|"
                       r"lawyers|counsel|committee|head office|partners|trustees|council|"
                       r"finance( director| team)?|it( team)?|security( team)?|"
                       r"(finance|operations|sales|it) director|leadership( team)?)\b",
                       re.IGNORECASE)
_WHEN = re.compile(r"\b((after|once|until|till|before) (the |our |we )?[a-z]+( [a-z]+)?|"
                   r"(next|this) (quarter|year|month|season|spring|summer|autumn|fall|winter)|"
                   r"in (january|february|march|april|may|june|july|august|september|october|"
                   r"november|december|q[1-4]|the new year)|q[1-4])\b", re.IGNORECASE)


def said_detail(objection: str, text: str) -> str | None:
    """What the customer said that the nudge should name: the figure for price, the
    approver for authority, the date or event for timing."""
    rx = {"price": _FIGURE, "authority": _APPROVER, "timing": _WHEN}.get(objection)
    m = rx.search(text) if rx else None
    return " ".join(m.group(0).split()) if m else None


def objection_text(pb: Playbook, objection: str, context: CustomerContext | None,
                   competitor: str | None = None, said: str = "") -> str:
    """The playbook's nudge for ``objection``, tailored with what was said (the rival named,
    the figure quoted, the approver or date named), the battlecard and CRM history."""
    text = pb.objections[objection].nudge
    if competitor:
        card = pb.competitor(competitor)
        if card is not None and card.battlecard.strengths:
            text = (f"Ask what they like about {competitor}, then stress "
                    f"{card.battlecard.strengths[0]}")
        elif objection == "competitor":
            text = (f"Ask what they like about {competitor} and what would make them switch, "
                    "then show where you differ")
    detail = said_detail(objection, said) if said else None
    if detail:
        label = {"price": "they said", "authority": "approver", "timing": "when"}[objection]
        text = f"{text} ({label}: {detail})"
    cues = HIGHLIGHT_CUES.get(objection, ())
    if competitor:
        cues = (*cues, competitor.lower())
    cited = cite_highlight(context, cues)
    if cited:
        text = f"{text} (CRM: {cited[0].lower() + cited[1:]})"
    return text


def competitor_text(pb: Playbook, name: str) -> str:
    card = pb.competitor(name)
    if card is None:
        return f"{name} mentioned: ask what they like about it"
    b = card.battlecard
    if b.line:
        return f"{name}: {b.line}"
    if b.landmines:
        return f"{name} mentioned: ask \"{b.landmines[0]}\""
    return f"{name} mentioned: ask what they like about it"
