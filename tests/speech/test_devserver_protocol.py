"""The AssemblyAI dev server's wire protocol, checked at the HTTP/WebSocket level."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from plugin.devservers.assemblyai import AssemblyAIDevServer, ScriptBackend, load_script

KEY = "proto-key"


@pytest.fixture(scope="module")
def server() -> Iterator[AssemblyAIDevServer]:
    script = load_script({"turns": [{"speaker": "rep", "text": "Hello there, how are you?",
                                     "start_ms": 0, "end_ms": 1000}]})
    backend = ScriptBackend(script, voice_gate=False, endpoint_ms=200)
    with AssemblyAIDevServer(api_key=KEY, backend=backend) as srv:
        yield srv


def test_rest_requires_the_raw_key_and_answers_json_errors(server: AssemblyAIDevServer) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        r = client.post("/v2/transcript", json={"audio_url": "x"},
                        headers={"authorization": "Bearer " + KEY})
        assert r.status_code == 401 and "error" in r.json()
        auth = {"authorization": KEY}
        assert client.post("/v2/transcript", json={}, headers=auth).status_code == 400
        assert client.post("/v2/transcript", content=b"{nope", headers=auth).status_code == 400
        assert client.get("/v2/transcript/unknown", headers=auth).status_code == 404


def test_transcript_moves_from_queued_to_completed_with_utterances(
        server: AssemblyAIDevServer) -> None:
    auth = {"authorization": KEY}
    with httpx.Client(base_url=server.base_url, headers=auth) as client:
        upload = client.post("/v2/upload", content=b"RIFF fake audio bytes").json()["upload_url"]
        created = client.post("/v2/transcript", json={"audio_url": upload,
                                                      "speaker_labels": True}).json()
        assert created["status"] == "queued"
        for _ in range(100):
            body = client.get(f"/v2/transcript/{created['id']}").json()
            if body["status"] == "completed":
                break
            time.sleep(0.05)
        assert body["status"] == "completed"
        assert body["utterances"][0]["speaker"] == "A"
        assert body["words"][0] == {"text": "Hello", "start": 0, "end": 200,
                                    "confidence": 0.95, "speaker": "A"}

        missing = client.post("/v2/transcript", json={"audio_url": "https://x.invalid/a.mp3"})
        for _ in range(100):
            failed = client.get(f"/v2/transcript/{missing.json()['id']}").json()
            if failed["status"] == "error":
                break
            time.sleep(0.05)
        assert failed["status"] == "error" and "Download error" in failed["error"]


def test_streaming_rejects_a_wrong_key_at_the_handshake(server: AssemblyAIDevServer) -> None:
    with pytest.raises(InvalidStatus) as err:
        connect(f"{server.streaming_host}/v3/ws?sample_rate=16000&encoding=pcm_s16le",
                additional_headers={"Authorization": "wrong"})
    assert err.value.response.status_code == 401


def test_streaming_session_begin_turns_termination(server: AssemblyAIDevServer) -> None:
    url = f"{server.streaming_host}/v3/ws?sample_rate=16000&encoding=pcm_s16le&format_turns=true"
    with connect(url, additional_headers={"Authorization": KEY}) as ws:
        begin = json.loads(ws.recv(timeout=5))
        assert begin["type"] == "Begin" and begin["id"] and begin["expires_at"] > time.time()
        for _ in range(30):  # 1.5 s of audio in 50 ms chunks
            ws.send(b"\x00\x00" * 800)
        ws.send(json.dumps({"type": "Terminate"}))
        messages = []
        try:
            while True:
                messages.append(json.loads(ws.recv(timeout=5)))
        except ConnectionClosed:
            pass
    turns = [m for m in messages if m["type"] == "Turn"]
    assert turns[-2]["end_of_turn"] and not turns[-2]["turn_is_formatted"]
    assert turns[-2]["transcript"] == "hello there how are you"
    assert turns[-1]["turn_is_formatted"] and turns[-1]["transcript"] == "Hello there, how are you?"
    assert any(not t["end_of_turn"] for t in turns)
    assert messages[-1] == {"type": "Termination", "audio_duration_seconds": 1,
                            "session_duration_seconds": messages[-1]["session_duration_seconds"]}


def test_streaming_refuses_audio_chunks_outside_50_to_1000_ms(server: AssemblyAIDevServer
                                                              ) -> None:
    url = f"{server.streaming_host}/v3/ws?sample_rate=16000&encoding=pcm_s16le"
    with connect(url, additional_headers={"Authorization": KEY}) as ws:
        ws.recv(timeout=5)
        ws.send(b"\x00\x00" * 160)  # 10 ms
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 3007
