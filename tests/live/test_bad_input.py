"""Bad input on the panel socket: a precise error event or close code, nothing stored lost."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from plugin.live.sources import MAX_FRAME_BYTES


def _started(panel: Any, identity: Any = None, **start: Any) -> Any:
    client = panel(identity)
    client.send({"type": "start", "sample_rate": 16000, "channels": ["rep", "customer"], **start})
    return client


def test_audio_before_start_is_refused_with_an_error_event(panel: Any) -> None:
    client = panel()
    client.ws.send(bytes([0]) + b"\x00\x00" * 160)
    err = client.wait_for(lambda e: e["type"] == "error")
    assert err["code"] == "not_started" and not err["fatal"]


def test_wrong_sample_rate_is_refused(panel: Any) -> None:
    client = panel()
    client.send({"type": "start", "sample_rate": 44100, "channels": ["rep"]})
    err = client.wait_for(lambda e: e["type"] == "error")
    assert err["code"] == "bad_sample_rate" and "16000" in err["message"]


def test_malformed_messages_get_precise_errors(panel: Any) -> None:
    client = panel()
    client.ws.send("{not json")
    client.send({"type": "dance"})
    client.send({"type": "start", "channels": ["rep", "boss"]})
    client.send({"type": "start", "call_id": "../../etc"})
    client.wait_for(lambda e: len(client.of("error")) >= 4)
    assert [e["code"] for e in client.of("error")] == ["bad_json", "unknown_type", "bad_channels",
                                                      "bad_call_id"]


def test_bad_frames_are_refused_and_the_call_goes_on(panel: Any) -> None:
    # given a started call
    client = _started(panel)
    ready = client.wait_for(lambda e: e["type"] == "ready")
    # when frames of odd length, oversized, or for an unknown channel arrive
    client.ws.send(bytes([0]) + b"\x00" * 321)
    client.ws.send(bytes([0]) + b"\x00" * (MAX_FRAME_BYTES + 1))
    client.ws.send(bytes([5]) + b"\x00\x00" * 160)
    client.wait_for(lambda e: len(client.of("error")) >= 3)
    # then each gets its error and the call still takes good audio and ends cleanly
    assert [e["code"] for e in client.of("error")] == ["bad_frame", "frame_too_large",
                                                      "bad_channel"]
    assert str(MAX_FRAME_BYTES) in client.of("error")[1]["message"]
    silence = np.zeros(1600, dtype="<i2").tobytes()
    client.ws.send(bytes([0]) + silence)
    client.ws.send(bytes([1]) + silence)
    client.send({"type": "stop"})
    ended = client.wait_for(lambda e: e["type"] == "ended")
    assert ended["call_id"] == ready["call_id"]


def test_unknown_and_foreign_call_ids_get_the_same_answer(panel: Any, tenants: Any) -> None:
    # given a call of tenant A
    a = _started(panel, tenants.identity("sf:00DA", "005A"))
    call_id = a.wait_for(lambda e: e["type"] == "ready")["call_id"]
    # when tenant B tries to resume it, or anyone resumes an id that does not exist
    b = _started(panel, tenants.identity("sf:00DB", "005B"), call_id=call_id)
    c = _started(panel, tenants.identity("sf:00DB", "005B"), call_id="doesnotexist")
    # then both are told the same thing, which reveals nothing about tenant A
    eb = b.wait_for(lambda e: e["type"] == "error")
    ec = c.wait_for(lambda e: e["type"] == "error")
    assert eb["code"] == ec["code"] == "unknown_call" and eb["message"] == ec["message"]
    a.send({"type": "stop"})
    a.wait_for(lambda e: e["type"] == "ended")


def test_an_ended_call_cannot_be_resumed(panel: Any) -> None:
    first = _started(panel)
    call_id = first.wait_for(lambda e: e["type"] == "ready")["call_id"]
    first.send({"type": "stop"})
    first.wait_for(lambda e: e["type"] == "ended")
    again = _started(panel, call_id=call_id, last_seq=0)
    assert again.wait_for(lambda e: e["type"] == "error")["code"] == "call_ended"


def test_a_bad_token_closes_the_socket_with_a_reason(panel: Any) -> None:
    client = panel(token="forged.token")
    err = client.wait_for(lambda e: e["type"] == "error")
    code, reason = client.wait_closed()
    assert err["code"] == "bad_token" and code == 1008 and "invalid session token" in reason


def test_a_second_start_on_one_connection_is_refused(panel: Any) -> None:
    client = _started(panel)
    client.wait_for(lambda e: e["type"] == "ready")
    client.ws.send(json.dumps({"type": "start", "channels": ["rep"]}))
    assert client.wait_for(lambda e: e["type"] == "error")["code"] == "already_started"
    client.send({"type": "stop"})
    client.wait_for(lambda e: e["type"] == "ended")
