"""Resume: a dropped socket or a restarted server continues the same call, nothing lost."""

from __future__ import annotations

import socket
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from plugin.db import db
from plugin.models import Call, Turn

pytestmark = pytest.mark.slow


def _seqs(call_id: str) -> list[int]:
    with db.session_scope() as s:
        return list(s.scalars(select(Turn.seq).where(Turn.call_id == call_id).order_by(Turn.seq)))


def _drop(client: Any) -> None:
    """Cut the TCP connection without a WebSocket close (a network drop)."""
    client.ws.socket.shutdown(socket.SHUT_RDWR)
    client.wait_closed()


def _split(timeline: Any) -> float:
    """A point in the silence after the second line (the first customer line)."""
    return (timeline[1].end_ms + timeline[2].start_ms) / 2000


def test_a_dropped_socket_resumes_the_same_call_and_seq_continues(
        server: Any, panel: Any, short_call: tuple[np.ndarray, Any]) -> None:
    stereo, timeline = short_call
    cut = _split(timeline)
    # given a call that has produced turns
    first = panel()
    first.send({"type": "start", "sample_rate": 16000, "channels": ["rep", "customer"]})
    call_id = first.wait_for(lambda e: e["type"] == "ready")["call_id"]
    first.stream(stereo, 0, cut, speed=4.0)
    first.wait_for(lambda e: e["type"] == "final" and e["seq"] == 2)
    last_seq = max(e["seq"] for e in first.of("final"))
    first_nudges = {e["id"] for e in first.of("nudge")}
    # when the network drops and the panel reconnects with what it has
    _drop(first)
    second = panel()
    second.send({"type": "start", "sample_rate": 16000, "channels": ["rep", "customer"],
                 "call_id": call_id, "last_seq": last_seq - 1, "last_nudge_id": 0})
    ready = second.wait_for(lambda e: e["type"] == "ready")
    # then it is the same call, missed turns are re-sent and numbering continues
    assert ready["call_id"] == call_id and ready["resumed"] is True
    assert ready["resume_from"] == last_seq + 1
    replayed = second.wait_for(lambda e: e["type"] == "final" and e.get("replayed"))
    assert replayed["seq"] == last_seq
    if first_nudges:  # last_nudge_id 0: all of them again, after the turns, in id order
        second.wait_for(lambda e: e["type"] == "nudge" and e["id"] == max(first_nudges))
    assert {e["id"] for e in second.of("nudge")} >= first_nudges
    second.stream(stereo, cut, None, speed=4.0)
    second.send({"type": "stop"})
    ended = second.wait_for(lambda e: e["type"] == "ended")
    seqs = _seqs(call_id)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 4
    assert ended["turns"] == len(seqs)
    live = [e["seq"] for e in second.of("final") if not e.get("replayed")]
    assert live and min(live) == last_seq + 1


def test_a_restarted_server_rebuilds_the_call_from_stored_turns(
        live_app: Any, tenants: Any, short_call: tuple[np.ndarray, Any],
        live_classes: Any) -> None:
    from plugin.app import create_app

    ServerThread, PanelClient = live_classes  # noqa: N806
    stereo, timeline = short_call
    cut = _split(timeline)
    ident = tenants.identity()
    token = tenants.token(ident)
    live_app.extensions["salescoach.live"].grace_s = 1e6  # the old process just dies
    old = ServerThread(live_app)
    try:
        first = PanelClient(old.url("/ws/calls"), token=token)
        first.send({"type": "start", "sample_rate": 16000, "channels": ["rep", "customer"]})
        call_id = first.wait_for(lambda e: e["type"] == "ready")["call_id"]
        first.stream(stereo, 0, cut, speed=4.0)
        first.wait_for(lambda e: e["type"] == "final" and e["seq"] == 2)
        objection = first.wait_for(lambda e: e["type"] == "nudge" and "price" in e["text"].lower())
        _drop(first)
    finally:
        old.stop()
    # when a new server process (a new app, registry and engines) takes the reconnect
    new_app = create_app({"env": "test",
                          "database_url": live_app.config["SETTINGS"].database_url,
                          "instance_path": live_app.config["SETTINGS"].instance_path,
                          "secret_key": "test-secret"})
    new = ServerThread(new_app)
    try:
        second = PanelClient(new.url("/ws/calls"), token=token)
        second.send({"type": "start", "sample_rate": 16000, "channels": ["rep", "customer"],
                     "call_id": call_id, "last_seq": 2, "last_nudge_id": objection["id"]})
        ready = second.wait_for(lambda e: e["type"] == "ready")
        assert ready["resumed"] and ready["resume_from"] == 3
        second.stream(stereo, cut, None, speed=4.0)
        second.send({"type": "stop"})
        ended = second.wait_for(lambda e: e["type"] == "ended")
        second.close()
    finally:
        new.stop()
    # then turns continue from 3 and the coach remembers the first half (rebuilt by replay)
    seqs = _seqs(call_id)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 4
    assert ended["metrics"]["objections"] >= 1
    with db.session_scope() as s:
        call = s.get(Call, call_id)
        assert call is not None and call.status == "ended"
