"""Persistence of live calls: the call row, its turns and nudges, written as they happen.

Every function is tenant-scoped: a call id of another tenant is treated as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from plugin.coach.types import Turn, Word
from plugin.db import db
from plugin.models import Call
from plugin.models import Nudge as NudgeRow
from plugin.models import Turn as TurnRow
from plugin.models._base import utcnow


class UnknownCall(LookupError):
    """No call with that id for this tenant (unknown and foreign look the same)."""


@dataclass(frozen=True, slots=True)
class StoredCall:
    """What a resumed call needs: its row's facts, its turns and its nudges."""

    call_id: str
    tenant_id: str
    status: str
    record_id: str
    record_type: str
    user_id: int | None
    duration_ms: int
    turns: tuple[Turn, ...]
    nudges: tuple[dict[str, Any], ...]


def create_call(tenant_id: str, user_id: int | None, *, source: str, record_id: str = "",
                record_type: str = "", title: str = "", call_id: str | None = None,
                consent: tuple[str, str] = ("", "")) -> str:
    """Store a new live call; ``consent`` = (tenant policy, consent the client stated)."""
    with db.session_scope() as s:
        call = Call(tenant_id=tenant_id, user_id=user_id, source=source, record_id=record_id,
                    record_type=record_type, title=title or f"{source.title()} call",
                    status="live", started_at=utcnow(), metrics={},
                    consent_policy=consent[0], consent=consent[1])
        if call_id:
            call.id = call_id
        s.add(call)
        s.flush()
        return call.id


def turn_from_row(row: TurnRow) -> Turn:
    words = tuple(Word(str(w.get("text", "")), int(w.get("start_ms", 0)), int(w.get("end_ms", 0)),
                       float(w.get("confidence", 1.0))) for w in (row.words or [])
                  if isinstance(w, dict))
    return Turn(row.seq, "rep" if row.speaker == "rep" else "customer", row.text, row.start_ms,
                row.end_ms, words)


def nudge_event(row: NudgeRow) -> dict[str, Any]:
    return {"type": "nudge", "id": row.id, "seq": row.turn_seq, "category": row.category,
            "severity": row.severity, "text": row.text, "rule": row.rule, "at_ms": row.at_ms,
            "source": row.source, "rating": row.rating}


def turn_event(turn: Turn) -> dict[str, Any]:
    return {"type": "final", "seq": turn.seq, "speaker": turn.speaker, "text": turn.text,
            "start_ms": turn.start_ms, "end_ms": turn.end_ms,
            "words": [{"text": w.text, "start_ms": w.start_ms, "end_ms": w.end_ms}
                      for w in turn.words]}


def load_call(tenant_id: str, call_id: str) -> StoredCall:
    with db.session_scope() as s:
        call = s.get(Call, call_id)
        if call is None or call.tenant_id != tenant_id:
            raise UnknownCall(call_id)
        turns = s.scalars(select(TurnRow).where(TurnRow.call_id == call_id)
                          .order_by(TurnRow.seq)).all()
        nudges = s.scalars(select(NudgeRow).where(NudgeRow.call_id == call_id)
                           .order_by(NudgeRow.id)).all()
        return StoredCall(call.id, call.tenant_id, call.status, call.record_id, call.record_type,
                          call.user_id, call.duration_ms, tuple(turn_from_row(t) for t in turns),
                          tuple(nudge_event(n) for n in nudges))


def save_turn(tenant_id: str, call_id: str, turn: Turn, analysis: dict[str, Any],
              nudges: list[dict[str, Any]]) -> list[int]:
    """Store one turn and the nudges it produced in one transaction; returns nudge ids."""
    with db.session_scope() as s:
        s.add(TurnRow(tenant_id=tenant_id, call_id=call_id, seq=turn.seq, speaker=turn.speaker,
                      text=turn.text, start_ms=turn.start_ms, end_ms=turn.end_ms,
                      words=[{"text": w.text, "start_ms": w.start_ms, "end_ms": w.end_ms,
                              "confidence": w.confidence} for w in turn.words],
                      analysis=analysis))
        rows = [_nudge_row(tenant_id, call_id, n) for n in nudges]
        s.add_all(rows)
        call = s.get(Call, call_id)
        if call is not None and turn.end_ms > call.duration_ms:
            call.duration_ms = turn.end_ms
        s.flush()
        return [r.id for r in rows]


def save_nudges(tenant_id: str, call_id: str, nudges: list[dict[str, Any]]) -> list[int]:
    """Store nudges that came without a turn (timers, deep tier)."""
    if not nudges:
        return []
    with db.session_scope() as s:
        rows = [_nudge_row(tenant_id, call_id, n) for n in nudges]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def _nudge_row(tenant_id: str, call_id: str, n: dict[str, Any]) -> NudgeRow:
    return NudgeRow(tenant_id=tenant_id, call_id=call_id, turn_seq=n.get("turn_seq"),
                    at_ms=int(n.get("at_ms") or 0), category=str(n.get("category", ""))[:32],
                    severity=str(n.get("severity", "info"))[:16], text=str(n.get("text", ""))[:500],
                    rule=str(n.get("rule", ""))[:64], source=str(n.get("source", "instant"))[:16])


def max_seq(call_id: str) -> int:
    with db.session_scope() as s:
        return int(s.scalar(select(func.max(TurnRow.seq)).where(TurnRow.call_id == call_id)) or 0)


def end_call(tenant_id: str, call_id: str, *, duration_ms: int, metrics: dict[str, Any],
             status: str = "ended", error: str = "") -> None:
    with db.session_scope() as s:
        call = s.get(Call, call_id)
        if call is None or call.tenant_id != tenant_id:
            raise UnknownCall(call_id)
        call.status = status
        call.ended_at = utcnow()
        call.duration_ms = max(call.duration_ms, duration_ms)
        call.metrics = metrics
        call.error = error[:2000]


def update_metrics(tenant_id: str, call_id: str, patch: dict[str, Any]) -> None:
    """Merge ``patch`` into the call's metrics (e.g. the latest deep review)."""
    with db.session_scope() as s:
        call = s.get(Call, call_id)
        if call is None or call.tenant_id != tenant_id:
            return
        call.metrics = {**(call.metrics or {}), **patch}
