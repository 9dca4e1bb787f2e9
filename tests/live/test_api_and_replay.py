"""Nudge ratings and call API (tenant walls), the replay command, the embedded events bus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from plugin.db import db
from plugin.live import store
from plugin.live.bus import FileBus
from plugin.models import Call, Nudge, Turn


def _call_with_nudge(tenant_id: str, user_id: int | None) -> tuple[str, int]:
    from plugin.coach.types import Turn as CoachTurn

    call_id = store.create_call(tenant_id, user_id, source="panel")
    [nid] = store.save_turn(tenant_id, call_id, CoachTurn(1, "customer", "Too pricey.", 0, 900),
                            {}, [{"category": "objection", "severity": "warn", "turn_seq": 1,
                                  "text": "Acknowledge the price concern", "rule": "objection"}])
    return call_id, nid


def test_a_rating_is_stored_and_other_tenants_get_404(client: Any, tenants: Any) -> None:
    # given a nudge of tenant A
    a = tenants.identity("sf:00DRATEA", "005A")
    b = tenants.identity("sf:00DRATEB", "005B")
    call_id, nid = _call_with_nudge(a.tenant_id, a.user_id)
    # when A rates it up, B tries to, and A sends nonsense
    ok = client.post(f"/api/v1/nudges/{nid}/rating", json={"rating": 1}, headers=tenants.headers(a))
    foreign = client.post(f"/api/v1/nudges/{nid}/rating", json={"rating": -1},
                          headers=tenants.headers(b))
    bad = client.post(f"/api/v1/nudges/{nid}/rating", json={"rating": 5},
                      headers=tenants.headers(a))
    empty = client.post(f"/api/v1/nudges/{nid}/rating", data="x", headers=tenants.headers(a))
    # then only A's rating counts, with precise errors for the rest
    assert ok.status_code == 200 and ok.json == {"id": nid, "rating": 1}
    assert foreign.status_code == 404 and foreign.json["error"]["code"] == "not_found"
    assert bad.status_code == 400 and bad.json["error"]["code"] == "bad_rating"
    assert empty.status_code == 400
    with db.session_scope() as s:
        row = s.get(Nudge, nid)
        assert row is not None and row.rating == 1 and row.rated_at is not None
    # and the call's API shows turns and nudges to A only
    got = client.get(f"/api/v1/live/calls/{call_id}", headers=tenants.headers(a))
    assert got.status_code == 200 and got.json["nudges"][0]["rating"] == 1
    assert got.json["turns"][0]["text"] == "Too pricey."
    assert client.get(f"/api/v1/live/calls/{call_id}",
                      headers=tenants.headers(b)).status_code == 404


def test_twilio_setup_gives_a_token_and_twiml(client: Any, tenants: Any) -> None:
    resp = client.post("/api/v1/live/twilio", json={"record_id": "003X"},
                       headers=tenants.headers(tenants.identity()))
    assert resp.status_code == 200
    assert resp.json["stream_url"].endswith("/ws/twilio")
    assert 'track="both_tracks"' in resp.json["twiml"] and "003X" in resp.json["twiml"]


def test_the_live_page_reminds_of_consent(client: Any, tenants: Any) -> None:
    token = tenants.token(tenants.identity())
    page = client.get(f"/panel/live?t={token}")
    assert page.status_code == 200 and b"consent" in page.data and b"live.js" in page.data
    assert client.get("/panel/live?t=forged").status_code == 401


def test_events_published_by_another_process_reach_the_call(tmp_path: Path) -> None:
    # given a web-side bus subscribed to a call
    bus = FileBus(tmp_path / "live_bus")
    got: list[dict[str, Any]] = []
    bus.subscribe("call1", got.append)
    # when a separate process (like a worker) publishes to it
    code = ("import sys; from pathlib import Path; from plugin.live.bus import FileBus; "
            "FileBus(Path(sys.argv[1])).publish('call1', {'type': 'deep', 'summary': 'hi'})")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "live_bus")], check=True,
                   timeout=60, cwd=Path(__file__).resolve().parents[2])
    # then the event is delivered once, and nothing is left behind
    for _ in range(100):
        if got:
            break
        bus.poll_once()
    bus.close()
    assert got == [{"type": "deep", "summary": "hi"}]
    assert not list((tmp_path / "live_bus" / "call1").glob("*.json"))


@pytest.mark.slow
def test_replay_streams_a_recording_through_the_live_pipeline(
        app: Any, database_url: str, instance_path: Path, short_call_wav: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from plugin.live.cli import replay_cmd

    monkeypatch.setenv("SALESCOACH_DATABASE_URL", database_url)
    monkeypatch.setenv("SALESCOACH_INSTANCE_PATH", str(instance_path))
    monkeypatch.setenv("SALESCOACH_SECRET_KEY", "test-secret")
    # when a stereo recording is replayed as fast as possible, as JSON lines
    result = CliRunner().invoke(replay_cmd, [str(short_call_wav), "--speed", "0", "--json",
                                             "--record", "003REPLAY"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    # then the transcript and the price nudge were printed and the call is stored
    finals = [e for e in events if e["type"] == "final"]
    assert [f["speaker"] for f in finals] == ["rep", "customer", "rep", "customer"]
    assert any(e["type"] == "nudge" and "price" in e["text"].lower() for e in events)
    ended = events[-1]
    assert ended["type"] == "ended" and ended["summary"]
    with db.session_scope() as s:
        call = s.get(Call, ended["call_id"])
        assert call is not None and call.source == "replay" and call.status == "ended"
        assert call.record_id == "003REPLAY"
        assert len(list(s.scalars(select(Turn).where(Turn.call_id == call.id)))) == 4


def test_replay_refuses_a_file_that_is_not_a_wav(tmp_path: Path) -> None:
    from plugin.live.cli import replay_cmd

    bogus = tmp_path / "call.wav"
    bogus.write_text("not audio")
    result = CliRunner().invoke(replay_cmd, [str(bogus)])
    assert result.exit_code != 0 and "not a readable audio file" in result.output
