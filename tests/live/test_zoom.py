"""Zoom RTMS as a live source, against a local server speaking the protocol over TLS:
signed handshakes, per-participant audio on the rep and customer channels, keep-alives,
a refused signature, a dropped media socket that is reconnected, the stream's end."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import numpy as np
import pytest

from plugin.devservers.zoom_rtms import Participant, ZoomRtmsDevServer
from plugin.live.sources import AudioFrame, Frame, SourceError, StopFrame
from plugin.live.zoom import (
    ParticipantMixer,
    RtmsClient,
    RtmsError,
    RtmsStream,
    rtms_signature,
    url_validation,
    verify_webhook,
    webhook_signature,
)

RATE = 16000


def _tone(freq: float, start_s: float, length_s: float, total_s: float = 3.0) -> np.ndarray:
    out = np.zeros(int(total_s * RATE), dtype=np.int16)
    t = np.arange(int(length_s * RATE)) / RATE
    a = int(start_s * RATE)
    out[a:a + len(t)] = (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return out


def _participants() -> list[Participant]:
    # the rep speaks first, two customers later (one at the same time as the other)
    return [Participant(16778240, "Dana Rep", _tone(220, 0.0, 1.0)),
            Participant(16779000, "Chris Buyer", _tone(440, 1.2, 1.0)),
            Participant(16779001, "Pat Finance", _tone(660, 1.6, 1.0))]


def _collect(server: ZoomRtmsDevServer, secret: str = "secret", **kwargs: object
             ) -> tuple[list[Frame], RtmsClient]:
    frames: list[Frame] = []
    client = RtmsClient(RtmsStream.from_webhook(server.webhook_event()), "client-id", secret,
                        frames.append, mixer=ParticipantMixer(16778240),
                        ssl_context=server.ssl_context, backoff_s=0.05, **kwargs)  # type: ignore[arg-type]
    asyncio.run(asyncio.wait_for(client.run(), 60))
    return frames, client


def _channel(frames: list[Frame], channel: int) -> np.ndarray:
    return np.concatenate([np.frombuffer(f.pcm16, dtype="<i2") for f in frames
                           if isinstance(f, AudioFrame) and f.channel == channel])


def _dominant_hz(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.fft.rfftfreq(len(pcm), 1 / RATE)[np.argmax(spectrum)])


def test_meeting_audio_arrives_on_rep_and_customer_channels_until_the_stream_ends() -> None:
    with ZoomRtmsDevServer(client_id="client-id", client_secret="secret",
                           participants=_participants()) as server:
        frames, client = _collect(server)
        assert server.handshakes == ["signaling ok", "media ok"]
        assert server.keepalive_answers >= 1 and server.ended
    assert isinstance(frames[-1], StopFrame) and "ended" in frames[-1].reason
    rep, customer = _channel(frames, 0), _channel(frames, 1)
    assert len(rep) == len(customer) >= int(2.5 * RATE)  # both channels keep the call clock
    assert _dominant_hz(rep[: RATE]) == pytest.approx(220, abs=3)
    assert np.abs(rep[int(1.3 * RATE):]).max() == 0  # the customers never reach the rep side
    assert _dominant_hz(customer[int(1.2 * RATE):int(1.55 * RATE)]) == pytest.approx(440, abs=5)
    both = customer[int(1.7 * RATE):int(2.1 * RATE)]  # two customers at once: mixed, not queued
    spectrum = np.abs(np.fft.rfft(both.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(both), 1 / RATE)
    assert spectrum[np.abs(freqs - 440) < 5].max() > 0.3 * spectrum.max()
    assert spectrum[np.abs(freqs - 660) < 5].max() > 0.3 * spectrum.max()
    assert client.mixer.participants["16779001"] == "Pat Finance"


def test_a_wrong_signature_is_refused_and_not_retried() -> None:
    with ZoomRtmsDevServer(client_id="client-id", client_secret="secret",
                           participants=_participants()) as server:
        with pytest.raises(RtmsError, match="status 3"):
            _collect(server, secret="not-the-secret")
        assert server.handshakes == ["signaling bad_signature"]


def test_a_dropped_media_socket_is_reconnected_and_the_stream_goes_on() -> None:
    with ZoomRtmsDevServer(client_id="client-id", client_secret="secret",
                           participants=_participants(), drop_media_after=40) as server:
        frames, client = _collect(server)
        assert client.reconnects == 1
        assert server.handshakes == ["signaling ok", "media ok", "signaling ok", "media ok"]
    assert isinstance(frames[-1], StopFrame)
    assert len(_channel(frames, 1)) >= int(2.4 * RATE)  # audio after the drop still arrives


def test_signatures_follow_zooms_recipes() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"secret", b"cid,mtg==,s1", hashlib.sha256).hexdigest()
    assert rtms_signature("cid", "secret", "mtg==", "s1") == expected
    body = json.dumps({"event": "meeting.rtms_started"}).encode()
    ts = str(int(time.time()))
    good = webhook_signature("token", ts, body)
    assert verify_webhook("token", ts, body, good, now=time.time())
    assert not verify_webhook("token", ts, body + b" ", good, now=time.time())
    assert not verify_webhook("token", ts, body, good, now=time.time() + 3600)  # replayed
    assert not verify_webhook("token", "soon", body, good, now=time.time())
    answer = url_validation("token", "abc")
    assert answer["encryptedToken"] == hmac.new(b"token", b"abc", hashlib.sha256).hexdigest()


@pytest.mark.parametrize("event", [
    {"event": "meeting.started", "payload": {}},
    {"event": "meeting.rtms_started", "payload": {"object": {"meeting_uuid": "m"}}},
    {"event": "meeting.rtms_started"},
])
def test_a_webhook_without_a_stream_is_refused(event: dict[str, object]) -> None:
    with pytest.raises(SourceError):
        RtmsStream.from_webhook(event)


def test_mixer_refuses_audio_that_is_not_base64() -> None:
    with pytest.raises(SourceError, match="base64"):
        ParticipantMixer(1).add({"user_id": 1, "data": "%%%", "timestamp": 0})


@pytest.mark.slow
def test_a_zoom_meeting_is_coached_like_a_call(live_app: Any, tenants: Any,
                                               short_call: Any) -> None:
    from plugin.live.registry import LiveFactory
    from plugin.live.zoom import coach_zoom_stream

    stereo, timeline = short_call
    ident = tenants.identity("demo", "rep-zoom")
    participants = [Participant(16778240, "Dana Rep", np.ascontiguousarray(stereo[:, 0])),
                    Participant(16779000, "Chris Buyer", np.ascontiguousarray(stereo[:, 1]))]
    with ZoomRtmsDevServer(client_id="client-id", client_secret="secret",
                           participants=participants, realtime=True) as server:
        client = RtmsClient(RtmsStream.from_webhook(server.webhook_event()), "client-id",
                            "secret", lambda f: None, mixer=ParticipantMixer(16778240),
                            ssl_context=server.ssl_context)
        factory = LiveFactory(live_app.config["SETTINGS"], post_call=False, deep=False)
        events: list[dict[str, Any]] = []
        call = coach_zoom_stream(factory, "demo", ident.user_id, client, title="Acme on Zoom")
        call.attach(events.append)
        deadline = time.monotonic() + 240
        while call.ended is None and time.monotonic() < deadline:
            time.sleep(0.2)
    assert call.ended is not None and "ended" in call.ended["reason"]
    finals = [e for e in events if e["type"] == "final"]
    assert [f["speaker"] for f in finals] == [t.speaker for t in timeline]
    assert "price" in finals[1]["text"].lower()
    assert any(e["type"] == "metrics" for e in events)  # each turn went through the coach
    from sqlalchemy import select

    from plugin.db import db
    from plugin.models import Call, Turn

    with db.session_scope() as s:
        row = s.get(Call, call.call_id)
        assert row is not None and row.source == "zoom" and row.status == "ended"
        stored = list(s.scalars(select(Turn).where(Turn.call_id == call.call_id)))
        assert [t.speaker for t in sorted(stored, key=lambda t: t.seq)] == [
            t.speaker for t in timeline]
