"""Enqueue worker tasks by name, so domain code never imports the task modules."""

from __future__ import annotations

from typing import Any

TRANSCRIBE = "salescoach.transcribe_recording"
ANALYSE = "salescoach.analyse_call"
DELIVER = "salescoach.deliver_outbox"
SWEEP = "salescoach.sweep"


def enqueue(task: str, *args: Any, countdown: float | None = None) -> None:
    """Send ``task(*args)``; the app's routes put it on its queue."""
    from workers.celery_app import get_celery

    get_celery().send_task(task, args=list(args), countdown=countdown)
