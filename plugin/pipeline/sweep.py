"""Recovery sweep: re-queue work whose worker died or whose broker message was lost.

The database is the source of truth; messages are hints. A filesystem broker forgets the
messages a killed worker held, and Redis restores them only after its visibility timeout, so
the workers run this at start and every ``SWEEP_EVERY_S`` (beat). A running transcription or
analysis holds a lease its worker renews (``plugin.pipeline.locks``): once a lease lapses
(``LEASE_TTL_S`` without renewal) the sweep re-queues that unit, so a killed worker's job is
picked up again within ``LEASE_TTL_S + SWEEP_EVERY_S`` (45 s). Re-queuing is safe: every stage
is idempotent, leases stop concurrent duplicates and the outbox claim stops a double send.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, func, literal, or_, select

from plugin.db import db
from plugin.models import Call, Recording, Report, TaskLock, Turn
from plugin.pipeline import locks, outbox
from plugin.pipeline.dispatch import ANALYSE, DELIVER, TRANSCRIBE, enqueue

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 15.0  # the beat schedule of ``salescoach.sweep``
# A unit whose worker died this many times is given up as failed (e.g. a recording that
# exhausts the worker's memory each time) instead of killing workers forever.
MAX_RECLAIMS = 3
STALE_UPLOAD = timedelta(minutes=5)  # stored but never picked up (broker down at upload)
# Transcribing with no lease row at all (its message was lost before any worker took it).
STALE_RECORDING = timedelta(minutes=10)
STALE_CALL = timedelta(minutes=10)
# A live call whose panel never came back (browser closed, server restarted) is ended after
# this long without a new turn, so its report and CRM activity are not lost.
ABANDONED_LIVE = timedelta(hours=2)


def reclaim(now: datetime | None = None) -> dict[str, int]:
    """Re-queue the units whose lease lapsed; fail those whose worker died too often."""
    requeued = failed = 0
    for unit in locks.reclaim_lapsed(now):
        if unit.reclaims > MAX_RECLAIMS:
            _give_up(unit)
            failed += 1
            continue
        log.warning("re-queuing %s: its worker stopped renewing the lease (lapse %d)",
                    unit.key, unit.reclaims)
        enqueue(TRANSCRIBE if unit.kind == "transcribe" else ANALYSE, unit.target)
        requeued += 1
    return {"reclaimed": requeued, "given_up": failed}


def _give_up(unit: locks.Lapsed) -> None:
    from plugin.pipeline import stages

    reason = (f"{'transcription' if unit.kind == 'transcribe' else 'analysis'} stopped its "
              f"worker {unit.reclaims} times (killed or out of memory); not retried")
    log.error("%s: %s", unit.key, reason)
    if unit.kind == "transcribe":
        stages.fail_recording(unit.target, reason)
    else:
        with db.session_scope() as s:
            call = s.get(Call, unit.target)
            if call is not None:
                call.status, call.error = "failed", reason
        stages.set_recording_of_call(unit.target, status="failed", error=reason)
    locks.drop(unit.key)


def sweep() -> dict[str, int]:
    now = datetime.now(UTC)
    reclaimed = reclaim(now)
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
                 Recording.created_at < now - STALE_RECORDING,
                 ~exists().where(TaskLock.key == literal("transcribe:") + Recording.id))))))
        calls = list(s.scalars(select(Call.id).where(
            Call.status == "ended", Call.ended_at.is_not(None), Call.ended_at < now - STALE_CALL,
            ~exists().where(Report.call_id == Call.id),
            ~exists().where(Recording.call_id == Call.id))))
    for rec_id in recordings:
        enqueue(TRANSCRIBE, rec_id)
    for call_id in [*abandoned, *calls]:
        enqueue(ANALYSE, call_id)
    return {"outbox": len(items), "recordings": len(recordings), "calls": len(calls),
            "abandoned_live": len(abandoned), **reclaimed}


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
