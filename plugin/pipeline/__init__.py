"""Post-call pipeline: transcribe → analyse → report → CRM write-back (exactly once).

``submit_call(call_id)`` for a call whose turns are stored (live call ended, replay done);
``submit_recording(recording_id)`` for an uploaded recording (transcribes first). Both only
enqueue work for the Celery workers (``workers/``); the stages live in ``stages`` and
``outbox`` as plain functions over ids.
"""

from __future__ import annotations

from plugin.pipeline.dispatch import ANALYSE, TRANSCRIBE, enqueue


def submit_call(call_id: str) -> None:
    """Enqueue analyse → report → CRM write-back for a call whose turns are stored."""
    enqueue(ANALYSE, call_id)


def submit_recording(recording_id: str) -> None:
    """Enqueue transcription of an uploaded recording, then the same as ``submit_call``."""
    enqueue(TRANSCRIBE, recording_id)


__all__ = ["submit_call", "submit_recording"]
