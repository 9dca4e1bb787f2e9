"""The deep tier on a real Celery worker: results come back to the call's socket via the bus."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_deep_review_runs_on_a_worker_and_reaches_the_panel(
        live_app: Any, panel: Any, short_call: tuple[np.ndarray, Any]) -> None:
    from celery.contrib.testing.worker import start_worker

    celery_app = live_app.extensions["celery"]
    with start_worker(celery_app, pool="threads", concurrency=1, queues=["live"],
                      perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"):
        # given a live call on a server whose Celery worker consumes the `live` queue
        client = panel()
        client.send({"type": "start", "sample_rate": 16000, "channels": ["rep", "customer"]})
        call_id = client.wait_for(lambda e: e["type"] == "ready")["call_id"]
        # when four turns have been coached (the deep review is due every four turns)
        client.stream(short_call[0], speed=4.0)
        client.wait_for(lambda e: e["type"] == "final" and e["seq"] == 4)
        # then the worker's running summary and checklist review arrive on the socket
        deep = client.wait_for(lambda e: e["type"] == "deep", timeout=180)
        assert deep["call_id"] == call_id and deep["upto_seq"] == 4
        assert deep["summary"] and set(deep["checklist"]) == {"covered", "missing"}
        client.send({"type": "stop"})
        ended = client.wait_for(lambda e: e["type"] == "ended")
    assert ended["call_id"] == call_id
