"""Spoken replies: a WAV is transcribed by the configured speech engine and scored."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

API = "/api/v1/practice"


def _speak(text: str, path: Path) -> bytes:
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), text], check=True,
                   capture_output=True)
    return path.read_bytes()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_spoken_reply_is_transcribed_scored_and_answered(client: Any, tenants: Any,
                                                         tmp_path: Path) -> None:
    headers = tenants.headers(tenants.identity("voice-org", "rep-v"))
    sid = client.post(f"{API}/sessions", json={"scenario_id": "gatekeeper-cold-call"},
                      headers=headers).get_json()["id"]
    wav = _speak("Of course. This is Sam from RouteIQ, I am calling about the fuel costs on "
                 "your delivery routes.", tmp_path / "reply.wav")
    resp = client.post(f"{API}/sessions/{sid}/replies/audio", data=wav,
                       headers={**headers, "Content-Type": "audio/wav"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert "fuel" in body["transcript"].lower()
    assert body["reply"]["source"] == "voice"
    assert "intro_reason" in body["reply"]["covered"]
    stored = client.get(f"{API}/sessions/{sid}", headers=headers).get_json()
    assert stored["replies"][0]["text"] == body["transcript"]


def test_overlong_recording_states_the_limit(client: Any, tenants: Any, tmp_path: Path) -> None:
    import wave

    from plugin.web.practice_api import MAX_AUDIO_SECONDS

    headers = tenants.headers(tenants.identity("voice-org", "rep-v"))
    sid = client.post(f"{API}/sessions", json={"scenario_id": "gatekeeper-cold-call"},
                      headers=headers).get_json()["id"]
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 8000 * (MAX_AUDIO_SECONDS + 5))
    resp = client.post(f"{API}/sessions/{sid}/replies/audio",
                       data={"audio": (io.BytesIO(path.read_bytes()), "long.wav")}, headers=headers,
                       content_type="multipart/form-data")
    assert resp.status_code == 413
    err = resp.get_json()["error"]
    assert err["code"] == "audio_too_long" and err["details"]["limit_seconds"] == MAX_AUDIO_SECONDS


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_a_drill_answered_by_voice_is_transcribed_scored_and_retried(client: Any, tenants: Any,
                                                                    tmp_path: Path) -> None:
    headers = tenants.headers(tenants.identity("voice-org", "rep-d"))
    line = "Your price is thirty percent higher than what we pay today."
    first = _speak("Okay.", tmp_path / "first.wav")
    resp = client.post(f"{API}/drills/audio", headers=headers, content_type="multipart/form-data",
                       data={"audio": (io.BytesIO(first), "a.wav"), "customer_line": line})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    one = resp.get_json()
    assert one["source"] == "voice" and one["transcript"].strip()
    better = _speak("That's a fair concern. What do you pay today, and what does it cost you "
                    "when routes run late? Most teams cover the difference in fuel within a "
                    "quarter.", tmp_path / "better.wav")
    resp = client.post(f"{API}/drills/audio", headers=headers, content_type="multipart/form-data",
                       data={"audio": (io.BytesIO(better), "b.wav"), "customer_line": line,
                             "previous_id": str(one["id"])})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    two = resp.get_json()
    assert "fuel" in two["transcript"].lower()
    assert two["overall"] > one["overall"]
    assert two["change"]["previous_overall"] == one["overall"]


def test_a_voice_drill_names_what_is_missing(client: Any, tenants: Any) -> None:
    headers = tenants.headers(tenants.identity("voice-org", "rep-d"))
    missing = client.post(f"{API}/drills/audio", headers=headers, data=b"RIFF....WAVE",
                          content_type="audio/wav")
    assert missing.status_code == 400
    assert missing.get_json()["error"]["details"]["field"] == "customer_line"
    bad_id = client.post(f"{API}/drills/audio?customer_line=Too%20much&previous_id=%D9%A1",
                         headers=headers, data=b"RIFF....WAVE", content_type="audio/wav")
    assert bad_id.status_code == 400
    assert bad_id.get_json()["error"]["details"]["field"] == "previous_id"
    not_wav = client.post(f"{API}/drills/audio?customer_line=Too%20much", headers=headers,
                          data=b"ID3 not a wav", content_type="audio/wav")
    assert not_wav.status_code == 415
