"""Replies as server-sent events: the feedback at once, then the buyer's line in pieces
(Gemini through the local Gemini-protocol server), then the session with the stored line."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from plugin.devservers.gemini import GeminiServer

API = "/api/v1/practice"


@pytest.fixture(scope="module")
def gemini_url() -> Iterator[str]:
    app = GeminiServer("dev-key")
    server = make_server("127.0.0.1", 0, app.wsgi, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def app_overrides(gemini_url: str) -> dict[str, Any]:
    return {"gemini_api_key": "dev-key", "gemini_base_url": gemini_url, "llm_engine": "gemini"}


def _events(body: str) -> list[tuple[str, Any]]:
    out = []
    for block in body.strip().split("\n\n"):
        kind = next(ln[7:] for ln in block.splitlines() if ln.startswith("event: "))
        data = next(ln[6:] for ln in block.splitlines() if ln.startswith("data: "))
        out.append((kind, json.loads(data)))
    return out


def test_stream_sends_feedback_then_gemini_pieces_then_the_session(client: Any,
                                                                   tenants: Any) -> None:
    rep = tenants.headers(tenants.identity("stream-org", "rep-s"))
    sid = client.post(f"{API}/sessions", json={"scenario_id": "cfo-discovery"},
                      headers=rep).get_json()["id"]
    resp = client.post(f"{API}/sessions/{sid}/replies/stream",
                       json={"text": "That's fair. How many days does your close take today?"},
                       headers=rep)
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    events = _events(resp.get_data(as_text=True))
    resp.close()  # as a server does: ends the request (and its database session)
    kinds = [k for k, _ in events]
    assert kinds[0] == "feedback" and kinds[-1] == "done" and kinds.count("buyer") > 1
    assert {d["engine"] for k, d in events if k == "buyer"} == {"gemini"}
    line = "".join(d["text"] for k, d in events if k == "buyer").strip()
    assert "Nine days" in line
    session = events[-1][1]["session"]
    assert session["buyer"]["text"] == line
    assert session["replies"][0]["buyer_engine"] == "gemini"


def test_stream_rejects_bad_input_before_any_event(client: Any, tenants: Any) -> None:
    rep = tenants.headers(tenants.identity("stream-org", "rep-s"))
    sid = client.post(f"{API}/sessions", json={"scenario_id": "cfo-discovery"},
                      headers=rep).get_json()["id"]
    resp = client.post(f"{API}/sessions/{sid}/replies/stream", json={"text": ""}, headers=rep)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "empty_reply"
    resp = client.post(f"{API}/sessions/nope/replies/stream", json={"text": "hi"}, headers=rep)
    assert resp.status_code == 404
