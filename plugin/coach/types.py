"""The coaching core's vocabulary: turns in, moments, nudges, metrics and reports out.

Pure data, no I/O. Everything that flows through the engine is a small frozen dataclass
(pipecat-style frames), so live calls, practice and recordings share one path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Speaker = Literal["rep", "customer"]
Severity = Literal["info", "warn", "critical"]
SPEAKERS: tuple[Speaker, ...] = ("rep", "customer")


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start_ms: int
    end_ms: int
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class Turn:
    """One uninterrupted stretch of one speaker. ``seq`` orders turns within a call."""

    seq: int
    speaker: Speaker
    text: str
    start_ms: int
    end_ms: int
    words: tuple[Word, ...] = ()

    @property
    def duration_ms(self) -> int:
        return max(0, self.end_ms - self.start_ms)

    @property
    def speech_start_ms(self) -> int:
        """When the first word starts (the turn's start when there are no word times)."""
        return self.words[0].start_ms if self.words else self.start_ms

    @property
    def speech_end_ms(self) -> int:
        """When the last word ends: segment ends carry trailing silence, words do not."""
        return max(w.end_ms for w in self.words) if self.words else self.end_ms


@dataclass(frozen=True, slots=True)
class Moment:
    """Something the coach recognised in a turn.

    ``kind``: objection | competitor | buying_signal | next_step | commitment | risky |
    negative | jargon | unanswered_question | keyword | acknowledgement | question.
    ``label``: the sub-type (objection type, competitor name, keyword…).
    ``source``: how it was found ("rule", "judge", "judge-lexical").
    ``confidence``: the judge's calibrated probability (1.0 for exact rules).
    ``quiet``: below the nudge threshold: shown in the transcript, never nudged.
    """

    kind: str
    label: str
    turn_seq: int
    at_ms: int
    text: str
    confidence: float = 1.0
    source: str = "rule"
    quiet: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Nudge:
    """One short, actionable line for the rep, with what triggered it.

    ``key`` identifies the advice for de-duplication (same key is not repeated within the
    playbook's window); ``rule`` names the analyser rule or model that produced it.
    """

    category: str
    severity: Severity
    text: str
    rule: str
    at_ms: int
    turn_seq: int | None = None
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CustomerContext:
    """What the CRM knows about the person on the call, normalised across CRMs.

    ``highlights`` are short, citable lines ("Raised budget on the 3 Nov call") that nudges
    and practice feedback may quote.
    """

    crm: str = ""  # salesforce | hubspot | ""
    record_id: str = ""
    record_type: str = ""
    person: dict[str, Any] = field(default_factory=dict)  # name, title, email, phone
    company: dict[str, Any] = field(default_factory=dict)  # name, industry, size, website
    deals: tuple[dict[str, Any], ...] = ()  # name, stage, amount, close_date
    activities: tuple[dict[str, Any], ...] = ()  # date, kind, subject, notes
    highlights: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
