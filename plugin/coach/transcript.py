"""A whole transcript in one call: the moments of every turn, judged in context, and the
report; what batch tools and integrations use instead of driving a session turn by turn."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from plugin.coach.playbook import Playbook
from plugin.coach.report import CallReport
from plugin.coach.session import CoachSession
from plugin.coach.types import SPEAKERS, CustomerContext, Moment, Nudge, Turn, Word


@dataclass(slots=True)
class TurnMoments:
    """One turn's reading: its moments (each with its confidence and whether it is quiet),
    the question kind and the nudges the live policy would have sent."""

    seq: int
    speaker: str
    text: str
    moments: list[Moment]
    question: str
    nudges: list[Nudge]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "speaker": self.speaker, "text": self.text,
                "moments": [m.to_dict() for m in self.moments], "question": self.question,
                "nudges": [n.to_dict() for n in self.nudges]}


@dataclass(slots=True)
class TranscriptAnalysis:
    turns: list[TurnMoments]
    report: CallReport

    def to_dict(self) -> dict[str, Any]:
        return {"turns": [t.to_dict() for t in self.turns], "report": self.report.to_dict()}


def as_turn(item: Turn | Mapping[str, Any], seq: int) -> Turn:
    """A Turn from a Turn or a dict ``{"speaker", "text", "start_ms"?, "end_ms"?,
    "words"?}``; raises ValueError naming what is wrong."""
    if isinstance(item, Turn):
        return item
    if not isinstance(item, Mapping):
        raise ValueError(f"turn {seq}: expected an object with speaker and text")
    speaker, text = item.get("speaker"), item.get("text")
    if speaker not in SPEAKERS:
        raise ValueError(f"turn {seq}: speaker must be 'rep' or 'customer'")
    if not isinstance(text, str):
        raise ValueError(f"turn {seq}: text must be a string")
    try:
        start = int(item.get("start_ms", 0))
        end = int(item.get("end_ms", start))
        words = tuple(Word(str(w["text"]), int(w["start_ms"]), int(w["end_ms"]))
                      for w in item.get("words") or ())
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"turn {seq}: times must be whole milliseconds ({exc})") from None
    if end < start:
        raise ValueError(f"turn {seq}: end_ms is before start_ms")
    return Turn(int(item.get("seq", seq)), speaker, text, start, end, words)


def analyse_transcript(turns: Iterable[Turn | Mapping[str, Any]], playbook: Playbook, *,
                       context: CustomerContext | None = None,
                       use_embeddings: bool | None = None) -> TranscriptAnalysis:
    """Every turn's moments (in the context of the turn before it) and the call report.

    ``turns`` are in call order, as :class:`Turn` or dicts with ``speaker`` and ``text``
    (``start_ms`` / ``end_ms`` / ``words`` optional: without times, pauses are unknown)."""
    session = CoachSession(playbook, context, use_embeddings=use_embeddings)
    out = []
    for i, item in enumerate(turns):
        r = session.on_turn(as_turn(item, i))
        out.append(TurnMoments(r.turn.seq, r.turn.speaker, r.turn.text, r.moments,
                               r.analysis.question, r.nudges))
    return TranscriptAnalysis(out, session.report())
