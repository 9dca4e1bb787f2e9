"""Graceful drain and live metrics: a draining process refuses new calls (1012, reconnect),
fails readiness, and hands its live calls over to another process, where the panel resumes
the same call; live nudges feed the audio-to-nudge histogram and the live-calls gauge."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from prometheus_client import REGISTRY

from plugin.db import db
from plugin.models import Call
from plugin.web.drain import drain_token

pytestmark = pytest.mark.slow

START = {"type": "start", "sample_rate": 16000, "channels": ["rep", "customer"]}


def _drain(app: Any, hand_over: bool = False) -> dict[str, Any]:
    token = drain_token(app.config["SECRET_KEY"])
    url = "/internal/drain" + ("?hand_over=1" if hand_over else "")
    resp = app.test_client().post(url, headers={"X-Drain-Token": token})
    assert resp.status_code == 200, resp.data
    return dict(resp.json)


def test_drain_needs_the_token(live_app: Any) -> None:
    client = live_app.test_client()
    assert client.post("/internal/drain").status_code == 404
    assert client.post("/internal/drain", headers={"X-Drain-Token": "x"}).status_code == 404
    assert client.get("/readyz").status_code == 200


def test_a_draining_server_hands_its_live_call_to_another_that_resumes_it(
        live_app: Any, server: Any, panel: Any, tenants: Any, live_classes: Any,
        short_call: tuple[np.ndarray, Any], database_url: str, instance_path: Any) -> None:
    from plugin.app import create_app

    server_cls, client_cls = live_classes
    stereo, timeline = short_call
    identity = tenants.identity()
    token = tenants.token(identity)
    nudges_before = REGISTRY.get_sample_value("salescoach_live_audio_to_nudge_seconds_count",
                                              {"source": "instant"}) or 0.0
    # given a live call on the first server, with a nudge already sent
    first = panel(identity)
    first.send(START)
    call_id = first.wait_for(lambda e: e["type"] == "ready")["call_id"]
    assert (REGISTRY.get_sample_value("salescoach_live_calls") or 0) >= 1
    cut = (timeline[1].end_ms + timeline[2].start_ms) / 2000
    first.stream(stereo, 0, cut, speed=4.0)
    first.wait_for(lambda e: e["type"] == "nudge")
    # the nudge's audio-to-nudge latency was observed
    assert (REGISTRY.get_sample_value("salescoach_live_audio_to_nudge_seconds_count",
                                      {"source": "instant"}) or 0.0) > nudges_before
    last_seq = max(e["seq"] for e in first.of("final"))
    # when that server starts draining
    state = _drain(live_app)
    assert state["draining"] and state["live_calls"] == 1
    # then it is not ready, and a new call there is sent elsewhere (1012: reconnect)
    assert live_app.test_client().get("/readyz").status_code == 503
    newcomer = panel(identity)
    newcomer.send(START)
    assert newcomer.wait_closed()[0] == 1012
    # and the live call, handed over, closes with 1012 without ending
    assert _drain(live_app, hand_over=True)["handed_over"] == 1
    assert first.wait_closed()[0] == 1012
    with db.session_scope() as s:
        call = s.get(Call, call_id)
        assert call is not None and call.status == "live"
    # the panel reconnects to another server, which resumes the same call
    other_app = create_app({"env": "test", "database_url": database_url,
                            "instance_path": instance_path, "secret_key": "test-secret",
                            "demo": True})
    other = server_cls(other_app)
    try:
        second = client_cls(other.url("/ws/calls"), token=token)
        second.send({**START, "call_id": call_id, "last_seq": last_seq, "last_nudge_id": 0})
        ready = second.wait_for(lambda e: e["type"] == "ready")
        assert ready["call_id"] == call_id and ready["resumed"] is True
        assert ready["resume_from"] == last_seq + 1
        second.stream(stereo, cut, None, speed=4.0)
        second.wait_for(lambda e: e["type"] == "final" and e["seq"] > last_seq)
        second.send({"type": "stop"})
        second.wait_for(lambda e: e["type"] == "ended")
        second.close()
    finally:
        other.stop()
