"""Deep work during a live call (queue ``live``): running summary and checklist review.

The web process enqueues ``salescoach.live.deep_review`` every few turns; the result goes
back to the socket holding the call through ``plugin.live.bus`` as a ``deep`` event (and a
nudge when the deep tier has a warning the instant tier did not give).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from flask import current_app

from plugin.live.pipeline import DEEP_TASK

log = logging.getLogger(__name__)

MAX_TURNS = 60  # the deep tier looks at the latest turns only


def deep_review_payload(settings: Any, call_id: str, tenant_id: str, upto_seq: int
                        ) -> dict[str, Any] | None:
    """The ``deep`` event for a call's turns up to ``upto_seq`` (None: call unknown)."""
    from plugin.coach import CoachSession
    from plugin.live import engines, store
    from plugin.llm import deep_request, get_llm

    try:
        stored = store.load_call(tenant_id, call_id)
    except store.UnknownCall:
        return None
    turns = [t for t in stored.turns if t.seq <= upto_seq][-MAX_TURNS:]
    if not turns:
        return None
    playbook = engines.playbook_for(tenant_id)
    llm = get_llm(settings, playbook)
    request = deep_request(turns, playbook)
    summary = llm.summarise(request)
    advice = llm.advise(request)
    session = CoachSession(playbook)
    for turn in stored.turns:
        if turn.seq <= upto_seq:
            session.on_turn(turn)
    covered = session.metrics().get("checklist", {})
    labels = {item.id: item.label for item in playbook.checklist}
    checklist = {"covered": [labels.get(k, k) for k, v in covered.items() if v],
                 "missing": [labels.get(k, k) for k, v in covered.items() if not v]}
    nudges = []
    if advice.severity != "info" and advice.confidence >= 0.6:
        nudges.append({"category": advice.category, "severity": advice.severity,
                       "text": advice.suggestion, "rule": f"model:{llm.name}",
                       "at_ms": turns[-1].end_ms, "turn_seq": turns[-1].seq,
                       "key": f"deep:{advice.category}"})
    return {"type": "deep", "call_id": call_id, "upto_seq": upto_seq, "engine": llm.name,
            "summary": summary.summary, "action_items": summary.action_items,
            "next_steps": summary.next_steps, "risks": summary.risks,
            "assessment": advice.assessment, "suggestion": advice.suggestion,
            "checklist": checklist, "nudges": nudges}


@shared_task(name=DEEP_TASK, ignore_result=True, acks_late=True, max_retries=0)
def deep_review(call_id: str, tenant_id: str, upto_seq: int) -> None:
    """Summarise the call so far, review the checklist and publish a ``deep`` event."""
    from plugin.live.bus import publish

    settings = current_app.config["SETTINGS"]
    if not isinstance(call_id, str) or not isinstance(tenant_id, str) \
            or not isinstance(upto_seq, int):
        log.warning("deep_review: bad arguments %r %r %r", call_id, tenant_id, upto_seq)
        return
    event = deep_review_payload(settings, call_id, tenant_id, upto_seq)
    if event is None:
        log.info("deep_review: call %s of %s has no turns or is unknown", call_id, tenant_id)
        return
    publish(settings, call_id, event)
