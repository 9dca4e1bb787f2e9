"""The practice REST API: a full session, every bad input as a precise 4xx, tenant walls."""

from __future__ import annotations

from typing import Any

import pytest

from .replies import GOOD_CLOSE, GOOD_ROI, GOOD_SPRAWL, WEAK_ROI

API = "/api/v1/practice"


@pytest.fixture
def rep(tenants: Any) -> dict[str, str]:
    return tenants.headers(tenants.identity("acme-org", "rep-a"))


def _start(client: Any, headers: dict[str, str], scenario: str = "cfo-discovery") -> dict[str, Any]:
    resp = client.post(f"{API}/sessions", json={"scenario_id": scenario}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _reply(client: Any, headers: dict[str, str], sid: str, text: Any) -> Any:
    return client.post(f"{API}/sessions/{sid}/replies", json={"text": text}, headers=headers)


def _error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()["error"]
    assert body["code"] == code, body
    return body


def test_scenarios_are_listed_without_the_answer_key(client: Any, rep: dict[str, str]) -> None:
    data = client.get(f"{API}/scenarios", headers=rep).get_json()
    ids = {s["id"] for s in data["scenarios"]}
    assert {"cfo-discovery", "gatekeeper-cold-call"} <= ids
    assert "key_points" not in str(data)
    one = client.get(f"{API}/scenarios/cfo-discovery", headers=rep).get_json()
    assert one["persona"]["name"] == "Margaret Okafor"


def test_full_session_gives_feedback_and_a_scorecard(client: Any, rep: dict[str, str]) -> None:
    session = _start(client, rep)
    assert session["status"] == "active" and session["buyer"]["objection"] == "roi"
    sid = session["id"]

    weak = _reply(client, rep, sid, WEAK_ROI)
    assert weak.status_code == 201
    w = weak.get_json()
    assert w["reply"]["quality"] == "weak" and w["buyer"]["objection"] == "roi"
    assert "Missing" in w["reply"]["content"]["reason"] and w["reply"]["improved"]
    assert w["buyer"]["patience"] == 2

    g = _reply(client, rep, sid, GOOD_ROI).get_json()
    assert g["reply"]["quality"] == "good" and g["buyer"]["objection"] == "tool_sprawl"
    assert g["reply"]["overall"] > w["reply"]["overall"]
    _reply(client, rep, sid, GOOD_SPRAWL)
    end = _reply(client, rep, sid, GOOD_CLOSE).get_json()
    assert end["buyer"]["ended"] and end["buyer"]["outcome"] == "next_step_agreed"
    card = end["session"]["scorecard"]
    assert end["session"]["status"] == "finished"
    assert card["outcome"] == "next_step_agreed" and card["replies"] == 4
    assert [o["status"] for o in card["objections"]] == ["handled", "handled", "handled"]
    assert card["practise_next"] and card["strengths"]

    got = client.get(f"{API}/sessions/{sid}", headers=rep).get_json()
    assert [r["seq"] for r in got["replies"]] == [1, 2, 3, 4]
    assert got["replies"][0]["text"] == WEAK_ROI

    progress = client.get(f"{API}/progress", headers=rep).get_json()
    assert progress["count"] >= 1 and progress["sessions"][-1]["id"] == sid
    hist = client.get(f"{API}/sessions?scenario_id=cfo-discovery", headers=rep).get_json()
    assert hist["items"][0]["id"] == sid


def test_finish_early_marks_open_objections_unresolved(client: Any, rep: dict[str, str]) -> None:
    sid = _start(client, rep, "gatekeeper-cold-call")["id"]
    _reply(client, rep, sid, "Hi, is he there?")
    resp = client.post(f"{API}/sessions/{sid}/finish", headers=rep)
    assert resp.status_code == 200
    card = resp.get_json()["scorecard"]
    assert card["outcome"] == "rep_finished"
    assert card["objections"][0]["status"] == "unresolved"
    # finishing twice is harmless and returns the same scorecard
    again = client.post(f"{API}/sessions/{sid}/finish", headers=rep).get_json()
    assert again["scorecard"] == card


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"text": ""}, 400, "empty_reply"),
    ({"text": "   \n\t "}, 400, "empty_reply"),
    ({"text": 42}, 400, "invalid_request"),
    ({"text": ["a", "list"]}, 400, "invalid_request"),
    ({"text": None}, 400, "invalid_request"),
    ({"text": "12345 !!! ..."}, 400, "not_text"),
    ({}, 400, "invalid_request"),
])
def test_bad_reply_bodies_are_rejected_and_nothing_is_lost(
        client: Any, rep: dict[str, str], body: dict[str, Any], status: int, code: str) -> None:
    sid = _start(client, rep)["id"]
    _reply(client, rep, sid, WEAK_ROI)
    before = client.get(f"{API}/sessions/{sid}", headers=rep).get_json()
    err = _error(client.post(f"{API}/sessions/{sid}/replies", json=body, headers=rep),
                 status, code)
    assert err["message"]
    after = client.get(f"{API}/sessions/{sid}", headers=rep).get_json()
    assert after == before


def test_oversized_reply_states_the_limit(client: Any, rep: dict[str, str], app: Any) -> None:
    limit = app.config["SETTINGS"].max_reply_chars
    sid = _start(client, rep)["id"]
    err = _error(_reply(client, rep, sid, "word " * limit), 413, "reply_too_long")
    assert err["details"]["limit"] == limit and str(limit) in err["message"]
    assert client.get(f"{API}/sessions/{sid}", headers=rep).get_json()["replies"] == []


def test_non_json_and_malformed_bodies(client: Any, rep: dict[str, str]) -> None:
    sid = _start(client, rep)["id"]
    url = f"{API}/sessions/{sid}/replies"
    _error(client.post(url, data="hello", headers={**rep, "Content-Type": "text/plain"}),
           415, "unsupported_media_type")
    _error(client.post(url, data="{not json", headers={**rep, "Content-Type": "application/json"}),
           400, "invalid_json")
    _error(client.post(url, json=["text"], headers=rep), 400, "invalid_request")
    _error(client.post(f"{API}/sessions", data="x", headers={**rep,
                                                            "Content-Type": "application/json"}),
           400, "invalid_json")


def test_unknown_scenario_and_session(client: Any, rep: dict[str, str]) -> None:
    err = _error(client.post(f"{API}/sessions", json={"scenario_id": "nope"}, headers=rep),
                 404, "not_found")
    assert "cfo-discovery" in err["details"]["available"]
    _error(client.post(f"{API}/sessions", json={"scenario_id": 7}, headers=rep),
           400, "invalid_request")
    _error(client.get(f"{API}/scenarios/nope", headers=rep), 404, "not_found")
    _error(client.get(f"{API}/sessions/doesnotexist", headers=rep), 404, "not_found")
    _error(_reply(client, rep, "doesnotexist", "hello"), 404, "not_found")
    _error(client.post(f"{API}/sessions/doesnotexist/finish", headers=rep), 404, "not_found")
    _error(client.get(f"{API}/sessions?limit=abc", headers=rep), 400, "invalid_request")
    _error(client.get(f"{API}/sessions?scenario_id=nope", headers=rep), 404, "not_found")


def test_replying_to_a_finished_session_is_a_conflict(client: Any, rep: dict[str, str]) -> None:
    sid = _start(client, rep)["id"]
    _reply(client, rep, sid, GOOD_ROI)
    client.post(f"{API}/sessions/{sid}/finish", headers=rep)
    before = client.get(f"{API}/sessions/{sid}", headers=rep).get_json()
    _error(_reply(client, rep, sid, GOOD_SPRAWL), 409, "session_finished")
    assert client.get(f"{API}/sessions/{sid}", headers=rep).get_json() == before


def test_other_tenants_and_other_reps_get_404(client: Any, tenants: Any,
                                              rep: dict[str, str]) -> None:
    sid = _start(client, rep)["id"]
    _reply(client, rep, sid, WEAK_ROI)
    intruder = tenants.headers(tenants.identity("other-org", "rep-a"))
    colleague = tenants.headers(tenants.identity("acme-org", "rep-b"))
    for headers in (intruder, colleague):
        _error(client.get(f"{API}/sessions/{sid}", headers=headers), 404, "not_found")
        _error(_reply(client, headers, sid, GOOD_ROI), 404, "not_found")
        _error(client.post(f"{API}/sessions/{sid}/finish", headers=headers), 404, "not_found")
        items = client.get(f"{API}/sessions", headers=headers).get_json()["items"]
        assert sid not in {i["id"] for i in items}
    mine = client.get(f"{API}/sessions/{sid}", headers=rep).get_json()
    assert mine["status"] == "active" and len(mine["replies"]) == 1


def test_requests_without_a_session_token_are_401(client: Any) -> None:
    _error(client.get(f"{API}/scenarios"), 401, "unauthorized")
    _error(client.post(f"{API}/sessions", json={"scenario_id": "cfo-discovery"}),
           401, "unauthorized")


def test_audio_reply_rejects_non_wav_and_empty_bodies(client: Any, rep: dict[str, str]) -> None:
    sid = _start(client, rep)["id"]
    url = f"{API}/sessions/{sid}/replies/audio"
    _error(client.post(url, data=b"", headers={**rep, "Content-Type": "audio/wav"}),
           400, "empty_audio")
    _error(client.post(url, data=b"ID3\x00not a wav file at all",
                       headers={**rep, "Content-Type": "audio/wav"}), 415, "unsupported_audio")
    _error(client.post(f"{API}/sessions/nope/replies/audio", data=b"RIFF",
                       headers={**rep, "Content-Type": "audio/wav"}), 404, "not_found")
    assert client.get(f"{API}/sessions/{sid}", headers=rep).get_json()["replies"] == []
