"""Twilio Media Streams: real μ-law messages in, turns and nudges stored, watchers see them."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from websockets.sync.client import connect

from plugin.db import db
from plugin.live.audio import pcm16_to_ulaw, resample, ulaw_to_pcm16
from plugin.models import Call, Nudge, Turn

STREAM_SID = "MZ00000000000000000000000000000001"
CALL_SID = "CA00000000000000000000000000000001"


def _start(token: str, **fmt: Any) -> dict[str, Any]:
    media_format = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1, **fmt}
    return {"event": "start", "sequenceNumber": "1", "streamSid": STREAM_SID,
            "start": {"accountSid": "AC0", "streamSid": STREAM_SID, "callSid": CALL_SID,
                      "tracks": ["inbound", "outbound"], "mediaFormat": media_format,
                      "customParameters": {"token": token, "record_id": "003TWILIO"}}}


def _stream_token(server: Any, tenants: Any, ident: Any) -> str:
    """What a deployment does: ask the API for the Twilio stream token of one call."""
    resp = server.app.test_client().post("/api/v1/live/twilio", json={"record_id": "003TWILIO"},
                                         headers=tenants.headers(ident))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return str(resp.json["token"])


def _media_messages(stereo: np.ndarray) -> list[tuple[float, list[str]]]:
    """(time s, messages) per 20 ms: outbound = rep (left), inbound = customer (right)."""
    tracks = {"outbound": resample(stereo[:, 0], 16000, 8000),
              "inbound": resample(stereo[:, 1], 16000, 8000)}
    out, seq = [], 2
    for chunk, pos in enumerate(range(0, tracks["inbound"].size, 160)):
        msgs = []
        for track, pcm in tracks.items():
            payload = base64.b64encode(pcm16_to_ulaw(pcm[pos:pos + 160])).decode()
            msgs.append(json.dumps({"event": "media", "sequenceNumber": str(seq),
                                    "streamSid": STREAM_SID,
                                    "media": {"track": track, "chunk": str(chunk + 1),
                                              "timestamp": str(pos // 8), "payload": payload}}))
            seq += 1
        out.append((pos / 8000, msgs))
    return out


def test_ulaw_decoding_matches_the_g711_reference_points() -> None:
    # 0xFF and 0x7F are the two zeros, 0x00 / 0x80 the extremes of G.711 μ-law
    pcm = ulaw_to_pcm16(bytes([0xFF, 0x7F, 0x00, 0x80]))
    assert pcm.tolist() == [0, 0, -32124, 32124]
    x = (np.sin(np.arange(800) / 7) * 12000).astype(np.int16)
    err = np.abs(ulaw_to_pcm16(pcm16_to_ulaw(x)).astype(int) - x)
    assert err.max() <= 12000 // 16  # μ-law keeps ~4 % relative error at this level


@pytest.mark.slow
def test_a_twilio_stream_is_transcribed_coached_stored_and_watchable(
        server: Any, tenants: Any, panel: Any, short_call: tuple[np.ndarray, Any]) -> None:
    ident = tenants.identity()
    token = tenants.token(ident)
    stream = _stream_token(server, tenants, ident)
    with connect(server.url("/ws/twilio"), open_timeout=10) as twilio:
        # given a Twilio stream that authenticates with its one-call stream token
        twilio.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        twilio.send(json.dumps(_start(stream)))
        # and a coach panel that follows the call
        call_id = _wait_live_call(server, token)
        watcher = panel(ident)
        for _ in range(100):  # the row is stored a moment before the call is registered
            watcher.send({"type": "watch", "call_id": call_id})
            answer = watcher.next_event(len(watcher.events))
            if answer["type"] == "ready":
                break
            assert answer["code"] == "unknown_call", answer
            time.sleep(0.1)
        assert answer["type"] == "ready" and answer["watching"] is True
        # when the call's audio streams as μ-law media messages (4x real time), then stop
        t0 = time.monotonic()
        for at, msgs in _media_messages(short_call[0]):
            for m in msgs:
                twilio.send(m)
            delay = t0 + at / 4 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        twilio.send(json.dumps({"event": "mark", "streamSid": STREAM_SID, "mark": {"name": "x"}}))
        nudge = watcher.wait_for(lambda e: e["type"] == "nudge" and "price" in e["text"].lower())
        twilio.send(json.dumps({"event": "stop", "sequenceNumber": "9999", "streamSid": STREAM_SID,
                                "stop": {"accountSid": "AC0", "callSid": CALL_SID}}))
        watcher.wait_for(lambda e: e["type"] == "ended")
    # then the call is stored as a Twilio call with both speakers and the nudge
    with db.session_scope() as s:
        call = s.get(Call, call_id)
        turns = list(s.scalars(select(Turn).where(Turn.call_id == call_id)))
        nudges = list(s.scalars(select(Nudge).where(Nudge.call_id == call_id)))
        assert call is not None and call.source == "twilio" and call.status == "ended"
        assert call.record_id == "003TWILIO"
        assert {t.speaker for t in turns} == {"rep", "customer"}
        assert nudge["id"] in {n.id for n in nudges}
        # the price nudge answers a customer turn (phone-band audio through μ-law)
        assert {t.seq: t.speaker for t in turns}[nudge["seq"]] == "customer"


def _wait_live_call(server: Any, token: str) -> str:
    import requests

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        resp = requests.get(f"http://127.0.0.1:{server.port}/api/v1/live/calls?status=live",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
        calls = [c for c in resp.json()["calls"] if c["source"] == "twilio"]
        if calls:
            return str(calls[0]["id"])
        time.sleep(0.2)
    raise AssertionError("the Twilio call did not appear")


def _close_of(server: Any, messages: list[str]) -> tuple[int | None, str]:
    with connect(server.url("/ws/twilio"), open_timeout=10) as ws:
        for m in messages:
            ws.send(m)
        try:
            while True:
                ws.recv(timeout=180)  # the first call of a process loads models
        except Exception:  # noqa: BLE001 - the close is what we want
            pass
        return ws.close_code, ws.close_reason or ""


@pytest.mark.parametrize("case,expected_code,reason", [
    ("bad_token", 1008, "bad_token"),
    ("bad_format", 1003, "bad_media_format"),
    ("media_first", 1008, "not_started"),
    ("bad_payload", 1007, "bad_payload"),
    ("not_json", 1008, "bad_json"),
])
def test_malformed_twilio_streams_are_closed_with_a_reason(
        server: Any, tenants: Any, case: str, expected_code: int, reason: str) -> None:
    token = _stream_token(server, tenants, tenants.identity())
    media = json.dumps({"event": "media", "streamSid": STREAM_SID,
                        "media": {"track": "inbound", "payload": "@@not base64@@"}})
    messages = {
        "bad_token": [json.dumps(_start("forged"))],
        "bad_format": [json.dumps(_start(token, encoding="audio/l16", sampleRate=16000))],
        "media_first": [media],
        "bad_payload": [json.dumps(_start(token)), media],
        "not_json": ["{{{"],
    }[case]
    code, why = _close_of(server, messages)
    assert code == expected_code and why.startswith(reason)


def test_the_stream_token_starts_one_stream_and_is_no_session(server: Any,
                                                              tenants: Any) -> None:
    ident = tenants.identity()
    stream = _stream_token(server, tenants, ident)
    # the token Twilio stores opens no API: it is not the rep's session
    api = server.app.test_client().get("/api/v1/live/calls",
                                       headers={"Authorization": f"Bearer {stream}"})
    assert api.status_code == 401
    # a session token is no stream token either
    code, why = _close_of(server, [json.dumps(_start(tenants.token(ident)))])
    assert code == 1008 and why.startswith("bad_token")
    with connect(server.url("/ws/twilio"), open_timeout=10) as first:
        first.send(json.dumps(_start(stream)))
        _wait_live_call(server, tenants.token(ident))
        # the same token a second time (a replayed or leaked TwiML) starts nothing
        code, why = _close_of(server, [json.dumps(_start(stream))])
        assert code == 1008 and "already used" in why


def test_an_expired_stream_token_is_refused(server: Any, tenants: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _stream_token(server, tenants, tenants.identity())
    # a lifetime of 0 s: the token is expired once a second has passed since it was signed
    monkeypatch.setattr(server.app.config["SETTINGS"], "stream_token_ttl_s", 0)
    time.sleep(1.1)
    code, why = _close_of(server, [json.dumps(_start(stream))])
    assert code == 1008 and "expired" in why
