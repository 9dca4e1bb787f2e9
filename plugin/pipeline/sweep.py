"""Recovery sweep: re-queue work whose broker message was lost.

The database is the source of truth; messages are hints. A filesystem broker forgets the
messages a killed worker held, and Redis restores them only after its visibility timeout, so
the workers run this at start and every 30 s (beat). Re-queuing is safe: every stage is
idempotent, task locks stop concurrent duplicates and the outbox claim stops a double send.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select

from plugin.db import db
from plugin.models import Call, Recording, Report, Turn
from plugin.pipeline import outbox
from plugin.pipeline.dispatch import ANALYSE, DELIVER, TRANSCRIBE, enqueue

STALE_UPLOAD = timedelta(minutes=5)  # stored but never picked up (broker down at upload)
STALE_RECORDING = timedelta(minutes=35)  # longer than the transcription time limit
STALE_CALL = timedelta(minutes=10)
# A live call whose panel never came back (browser closed, server restarted) is ended after
# this long without a new turn, so its report and CRM activity are not lost.
ABANDONED_LIVE = timedelta(hours=2)


def sweep() -> dict[str, int]:
    now = datetime.now(UTC)
    items = outbox.due_items()
    for item_id in items:
        enqueue(DELIVER, item_id)
    abandoned = end_abandoned_live_calls(now)
    with db.session_scope() as s:
        recordings = list(s.scalars(select(Recording.id).where(or_(
            and_(Recording.stage == "uploaded", Recording.status == "queued",
                 Recording.created_at < now - STALE_UPLOAD),
            and_(Recording.stage.in_(("uploaded", "transcribing")),
                 Recording.status.in_(("queued", "running")),
                 Recording.created_at < now - STALE_RECORDING)))))
        calls = list(s.scalars(select(Call.id).where(
            Call.status == "ended", Call.ended_at.is_not(None), Call.ended_at < now - STALE_CALL,
            ~exists().where(Report.call_id == Call.id),
            ~exists().where(Recording.call_id == Call.id))))
    for rec_id in recordings:
        enqueue(TRANSCRIBE, rec_id)
    for call_id in [*abandoned, *calls]:
        enqueue(ANALYSE, call_id)
    return {"outbox": len(items), "recordings": len(recordings), "calls": len(calls),
            "abandoned_live": len(abandoned)}


def end_abandoned_live_calls(now: datetime) -> list[str]:
    """Mark live calls with no turn for ABANDONED_LIVE as ended; return their ids."""
    last_turn = (select(func.max(Turn.created_at)).where(Turn.call_id == Call.id)
                 .correlate(Call).scalar_subquery())
    cutoff = now - ABANDONED_LIVE
    with db.session_scope() as s:
        calls = list(s.scalars(select(Call).where(
            Call.status == "live", Call.created_at < cutoff,
            or_(last_turn.is_(None), last_turn < cutoff))))
        for call in calls:
            call.status = "ended"
            call.ended_at = now
            call.error = "ended by the sweep: the panel did not come back for 2 hours"
        return [c.id for c in calls]
