"""Nudge policy (rate limit, no repeats) and the wording of tailored nudges."""

from __future__ import annotations

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

    Critical nudges (risky promises) skip the per-minute cap but never the repeat window;
    info nudges leave the last slot of each minute free for warnings.
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

    def offer(self, nudge: Nudge) -> bool:
        """True if ``nudge`` may be shown now (and record it as shown)."""
        if _RANK[nudge.severity] < self.min_rank:
            return self._hold(nudge)
        last = self._last_by_key.get(nudge.key)
        if last is not None and nudge.at_ms - last < self.repeat_ms:
            return self._hold(nudge)
        while self._sent and nudge.at_ms - self._sent[0] >= 60_000:
            self._sent.popleft()
        cap = self.max_per_minute
        if nudge.severity == "info" and cap > 1:
            cap -= 1
        if nudge.severity != "critical" and len(self._sent) >= cap:
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


def objection_text(pb: Playbook, objection: str, context: CustomerContext | None,
                   competitor: str | None = None) -> str:
    """The playbook's nudge for ``objection``, tailored with battlecard and CRM history."""
    text = pb.objections[objection].nudge
    if competitor:
        card = pb.competitor(competitor)
        if card is not None and card.battlecard.strengths:
            text = (f"Ask what they like about {competitor}, then stress "
                    f"{card.battlecard.strengths[0]}")
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
