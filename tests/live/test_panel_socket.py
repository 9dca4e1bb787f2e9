"""The panel WebSocket: a streamed call yields partials, turns and nudges, all stored."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from plugin.db import db
from plugin.models import Call, Nudge, Turn

pytestmark = pytest.mark.slow


def _stored(call_id: str) -> tuple[Call, list[Turn], list[Nudge]]:
    with db.session_scope() as s:
        call = s.get(Call, call_id)
        turns = list(s.scalars(select(Turn).where(Turn.call_id == call_id).order_by(Turn.seq)))
        nudges = list(s.scalars(select(Nudge).where(Nudge.call_id == call_id)))
        assert call is not None
        return call, turns, nudges


def test_streamed_call_gives_partials_turns_and_a_price_nudge_all_stored(
        panel: Any, short_call: tuple[np.ndarray, Any]) -> None:
    # given a panel connected with a valid session
    client = panel()
    client.send({"type": "start", "sample_rate": 16000, "channels": ["rep", "customer"],
                 "record_id": "003DEMO"})
    ready = client.wait_for(lambda e: e["type"] == "ready")
    assert ready["resume_from"] == 1 and ready["resumed"] is False
    # when the call's two channels stream in and the rep stops
    client.stream(short_call[0], speed=4.0)
    nudge = client.wait_for(lambda e: e["type"] == "nudge" and "price" in e["text"].lower())
    client.send({"type": "stop"})
    ended = client.wait_for(lambda e: e["type"] == "ended")
    # then partials, finals in seq order, the price nudge and the end summary arrived
    assert client.of("partial"), "no partial transcript"
    finals = client.of("final")
    assert [f["seq"] for f in finals] == list(range(1, len(finals) + 1))
    assert {f["speaker"] for f in finals} == {"rep", "customer"}
    assert any("expensive" in f["text"].lower() for f in finals if f["speaker"] == "customer")
    assert "price" in nudge["text"].lower() and nudge["severity"] in ("warn", "critical")
    assert client.of("metrics") and "talk_ratio" in client.of("metrics")[-1]["metrics"]
    assert ended["call_id"] == ready["call_id"] and ended["summary"]
    # and everything is in the database, under the caller's tenant
    call, turns, nudges = _stored(ready["call_id"])
    assert call.status == "ended" and call.tenant_id == "demo" and call.record_id == "003DEMO"
    assert [t.seq for t in turns] == [f["seq"] for f in finals]
    assert nudge["id"] in {n.id for n in nudges}
    assert client.wait_closed()[0] == 1000


def test_live_socket_declines_permessage_deflate_for_audio(panel: Any) -> None:
    # given a client that offers permessage-deflate (websockets does by default, as browsers do)
    client = panel()
    # then the handshake answer negotiates no extension: PCM frames stay uncompressed
    assert client.ws.response is not None
    assert "Sec-WebSocket-Extensions" not in client.ws.response.headers
    client.send({"type": "ping"})
    assert client.wait_for(lambda e: e["type"] == "pong")
