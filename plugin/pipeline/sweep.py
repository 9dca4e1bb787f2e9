"""Recovery sweep: re-queue work whose broker message was lost.

The database is the source of truth; messages are hints. A filesystem broker forgets the
messages a killed worker held, and Redis restores them only after its visibility timeout, so
the workers run this at start and every 30 s (beat). Re-queuing is safe: every stage is
idempotent, task locks stop concurrent duplicates and the outbox claim stops a double send.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, or_, select

from plugin.db import db
from plugin.models import Call, Recording, Report
from plugin.pipeline import outbox
from plugin.pipeline.dispatch import ANALYSE, DELIVER, TRANSCRIBE, enqueue

STALE_UPLOAD = timedelta(minutes=5)  # stored but never picked up (broker down at upload)
STALE_RECORDING = timedelta(minutes=35)  # longer than the transcription time limit
STALE_CALL = timedelta(minutes=10)


def sweep() -> dict[str, int]:
    now = datetime.now(UTC)
    items = outbox.due_items()
    for item_id in items:
        enqueue(DELIVER, item_id)
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
    for call_id in calls:
        enqueue(ANALYSE, call_id)
    return {"outbox": len(items), "recordings": len(recordings), "calls": len(calls)}
