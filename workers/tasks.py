"""Celery tasks of the post-call pipeline: ids in, thin over ``plugin.pipeline``.

Every task is idempotent, acknowledged late and rejected (re-queued) when its worker dies, so
a redelivered message repeats a stage harmlessly; the outbox claim keeps the CRM write single.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import beat_init, task_postrun, task_prerun, worker_ready
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app
from sqlalchemy import select

from plugin.db import db
from plugin.models import Call, OutboxItem
from plugin.pipeline import locks, outbox, stages
from plugin.pipeline import sweep as sweeper
from plugin.pipeline.dispatch import ANALYSE, DELIVER, enqueue
from plugin.pipeline.locks import Lease, lease, release_node
from plugin.providers.errors import ProviderInputError, ProviderUnavailable
from plugin.settings import Settings

log = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (ProviderUnavailable,),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 6,
}


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def worker_id(task: Task) -> str:
    """``<node>:<pid>``: who holds an outbox claim (freed when that node restarts)."""
    return f"{task.request.hostname or 'local'}:{os.getpid()}"


def lock_owner(task: Task) -> str:
    """``<node>:<pid>:<task id>``: unique per run, freed when the node restarts."""
    return f"{worker_id(task)}:{task.request.id or 'local'}"


def _recording_failed(self: Task, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                      einfo: Any) -> None:
    """Retries exhausted or an unexpected error: the recording shows failed with the reason."""
    locks.drop(f"transcribe:{args[0]}")
    stages.fail_recording(str(args[0]), f"transcription failed: {exc}")


def _call_failed(self: Task, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                 einfo: Any) -> None:
    call_id = str(args[0])
    locks.drop(f"analyse:{call_id}")
    with db.session_scope() as s:
        call = s.get(Call, call_id)
        if call is not None:
            call.status, call.error = "failed", f"analysis failed: {exc}"[:2000]
    stages.set_recording_of_call(call_id, status="failed", error=f"analysis failed: {exc}"[:2000])


# A queued analysis whose message never reaches a worker is queued again after this long.
ANALYSE_QUEUED_HOLD_S = 600.0


def _retrying(self: Task, held: Lease) -> None:
    """A provider outage: keep a placeholder for the retry's countdown (the largest the
    backoff can draw) plus a grace, so the sweep re-queues only a retry that never came."""
    countdown = get_exponential_backoff_interval(
        RETRY["retry_backoff"], self.request.retries, RETRY["retry_backoff_max"], full_jitter=False)
    held.hand_over(f"retry:{self.request.id or 'local'}", countdown + locks.RECLAIM_GRACE_S)


@shared_task(name="salescoach.transcribe_recording", bind=True, acks_late=True,
             soft_time_limit=1800, time_limit=1900, on_failure=_recording_failed, **RETRY)
def transcribe_recording(self: Task, recording_id: str) -> str | None:
    """Transcribe an uploaded recording into turns, then queue its analysis. The lease is
    renewed while it runs: a killed worker's recording is re-queued within a minute."""
    with lease(f"transcribe:{recording_id}", lock_owner(self)) as held:
        if not held.held:
            log.info("recording %s is being transcribed by another run", recording_id)
            return None
        try:
            call_id = stages.transcribe(recording_id, settings())
        except (stages.StageFailed, ProviderInputError) as exc:
            reason = str(getattr(exc, "reason", None) or getattr(exc, "message", None) or exc)
            stages.fail_recording(recording_id, reason)
            return None
        except SoftTimeLimitExceeded:
            stages.fail_recording(recording_id, "transcription took longer than 30 minutes")
            return None
        except ProviderUnavailable:
            _retrying(self, held)
            raise
    if call_id:
        locks.expect(f"analyse:{call_id}", ANALYSE_QUEUED_HOLD_S)
        enqueue(ANALYSE, call_id)
    return call_id


@shared_task(name="salescoach.analyse_call", bind=True, acks_late=True,
             soft_time_limit=300, time_limit=360, on_failure=_call_failed, **RETRY)
def analyse_call(self: Task, call_id: str) -> int | None:
    """Analyse a call's turns, store its report, persist the outbox row, queue the write-back
    (under a renewed lease, like ``transcribe_recording``)."""
    with lease(f"analyse:{call_id}", lock_owner(self)) as held:
        if not held.held:
            log.info("call %s is being analysed by another run", call_id)
            return None
        try:
            version = stages.analyse(call_id, settings())
        except stages.StageFailed as exc:
            _call_failed(self, Exception(exc.reason), "", [call_id], {}, None)
            return None
        except ProviderUnavailable:
            _retrying(self, held)
            raise
    if version is None:
        return None
    item_id = stages.queue_writeback(call_id, version, settings())
    if item_id is None:
        stages.set_recording_of_call(call_id, stage="done", status="done", progress=100)
    else:
        stages.set_recording_of_call(call_id, stage="writing_back")
        enqueue(DELIVER, item_id)
    return version


@shared_task(name="salescoach.deliver_outbox", bind=True, acks_late=True,
             soft_time_limit=120, time_limit=150, max_retries=None)
def deliver_outbox(self: Task, outbox_id: int) -> str:
    """Write one outbox row to the CRM at most once (see ``plugin.pipeline.outbox``)."""
    result = outbox.deliver(int(outbox_id), settings(), worker=worker_id(self))
    with db.session_scope() as s:
        call_id = s.scalar(select(OutboxItem.call_id).where(OutboxItem.id == int(outbox_id)))
    if call_id:
        stages.mark_writeback(call_id, result)
    if result.outcome in ("retry", "busy", "not_due"):
        raise self.retry(countdown=result.countdown)
    return result.outcome


@shared_task(name="salescoach.sweep", acks_late=True, soft_time_limit=60, time_limit=90)
def sweep() -> dict[str, int]:
    """Re-queue work whose worker died (lapsed lease) or whose message was lost."""
    return sweeper.sweep()


_BOUND: dict[str, Any] = {}
# Which id a task's first argument is, for the log lines it writes.
_FIRST_ARG = {"salescoach.analyse_call": "call_id"}


@task_prerun.connect
def _bind_log_ids(task_id: str = "", task: Any = None, args: Any = None, **_: Any) -> None:
    """Every line a task logs carries its task id (as request_id) and its call id."""
    from plugin import logs

    ids = {"request_id": task_id}
    key = _FIRST_ARG.get(getattr(task, "name", ""))
    if key and args:
        ids[key] = str(args[0])
    _BOUND[task_id] = logs.push(**ids)


@task_postrun.connect
def _unbind_log_ids(task_id: str = "", **_: Any) -> None:
    from plugin import logs

    bound = _BOUND.pop(task_id, None)
    if bound is not None:
        logs.pop(bound)


@beat_init.connect
def _on_beat_init(sender: Any = None, **_: Any) -> None:
    """An embedded beat (``worker --beat``) is a child process: make it die with its worker,
    so a killed worker leaves no orphan scheduler behind."""
    from plugin.procs import die_with_parent

    die_with_parent()


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    """A (re)started node frees the outbox claims its previous process held, then sweeps."""
    node = getattr(sender, "hostname", "") or ""
    try:
        if node:
            freed = outbox.release_claims_of_node(node, f"{node}:{os.getpid()}")
            freed += release_node(node, os.getpid())
            if freed:
                log.warning("freed %d claims/locks held by a previous process of %s", freed, node)
        log.info("startup sweep: %s", sweeper.sweep())
    except Exception:  # noqa: BLE001 - never stop a worker from starting
        log.exception("startup recovery failed; the periodic sweep will retry")
