"""Free-form drills: any customer line and an answer get feedback at once; a retry says what
changed; the CLI drills too; customer lines come from the record's history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.practice.customer import customer_scenario, raised

API = "/api/v1/practice"
LINE = "Honestly your price is too high, we need thirty percent off."
WEAK = "Okay, I can do 40% off if you sign today."
BETTER = ("I understand. What is the thirty percent based on, a budget or another quote? If you "
          "commit to two years I can offer 10% off. Would that work?")


@pytest.fixture
def rep(tenants: Any) -> dict[str, str]:
    return tenants.headers(tenants.identity("drill-org", "rep-d"))


def test_drill_feedback_then_a_retry_shows_the_change(client: Any, rep: dict[str, str]) -> None:
    first = client.post(f"{API}/drills", json={"customer_line": LINE, "text": WEAK}, headers=rep)
    assert first.status_code == 201, first.get_json()
    a = first.get_json()
    assert a["scenario_id"] == "procurement-price" and a["brief"]["max_discount_pct"] == 10
    assert {f["kind"] for f in a["flaws"]} >= {"discount", "pushy_close"} and a["overall"] < 45
    assert a["change"] is None
    second = client.post(f"{API}/drills", json={"customer_line": LINE, "text": BETTER,
                                                "previous_id": a["id"]}, headers=rep).get_json()
    assert second["change"]["delta"]["overall"] > 0
    assert "discount" in second["change"]["fixed_flaws"]
    items = client.get(f"{API}/drills", headers=rep).get_json()["items"]
    assert [d["id"] for d in items[:2]] == [second["id"], a["id"]]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"text": "hi there"}, 400, "invalid_request"),
    ({"customer_line": "", "text": "hi there"}, 400, "empty_reply"),
    ({"customer_line": "x" * 2001, "text": "hi"}, 413, "reply_too_long"),
    ({"customer_line": "Too pricey.", "text": 5}, 400, "invalid_request"),
    ({"customer_line": "Too pricey.", "text": "ok", "previous_id": "1"}, 400, "invalid_request"),
    ({"customer_line": "Too pricey.", "text": "ok", "previous_id": 999999}, 404, "not_found"),
    ({"customer_line": "Too pricey.", "text": "ok", "scenario_id": "nope"}, 404, "not_found"),
])
def test_bad_drills_are_precise_4xx(client: Any, rep: dict[str, str], body: Any, status: int,
                                    code: str) -> None:
    resp = client.post(f"{API}/drills", json=body, headers=rep)
    assert resp.status_code == status and resp.get_json()["error"]["code"] == code


def test_another_reps_drill_cannot_be_retried(client: Any, tenants: Any,
                                              rep: dict[str, str]) -> None:
    mine = client.post(f"{API}/drills", json={"customer_line": LINE, "text": BETTER},
                       headers=rep).get_json()
    other = tenants.headers(tenants.identity("other-drill-org", "rep-o"))
    resp = client.post(f"{API}/drills", json={"customer_line": LINE, "text": BETTER,
                                              "previous_id": mine["id"]}, headers=other)
    assert resp.status_code == 404


CONTEXT = {
    "crm": "salesforce", "record_id": "003XYZ", "record_type": "Contact",
    "person": {"name": "Dana Whitaker", "title": "VP Finance"},
    "company": {"name": "Harbor Logistics", "industry": "Logistics"},
    "deals": [{"name": "Harbor expense rollout", "stage": "Negotiation"}],
    "activities": [{"date": "2026-11-20", "kind": "call",
                    "notes": "Customer said the price is too high for this year's budget. "
                             "Can you integrate with SAP?"}],
}


def test_customer_scenario_is_this_customer() -> None:
    s = customer_scenario(CONTEXT)
    assert s.persona.name == "Dana Whitaker" and s.persona.company == "Harbor Logistics"
    assert s.persona.industry == "Logistics" and s.id == "customer-003xyz"
    assert s.objections[0].phrasings[0] == "The price is too high for this year's budget."
    assert "Can you integrate with SAP?" in s.opening
    assert any("Negotiation" in f.answer for f in s.persona.facts)
    assert [r["topic"] for r in raised(CONTEXT)] == ["budget", "question"]


def test_drill_in_the_terminal_shows_each_try_and_the_change(database_url: str,
                                                             tmp_path: Path) -> None:
    env = {"SALESCOACH_DATABASE_URL": database_url, "SALESCOACH_INSTANCE_PATH": str(tmp_path),
           "SALESCOACH_ENV": "test", "COLUMNS": "80"}
    script = tmp_path / "answers.txt"
    script.write_text(WEAK + "\n" + BETTER + "\n")
    result = CliRunner().invoke(main, ["practice", "--drill", "--line", LINE, "--script",
                                       str(script)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Drill:" in result.output and "Since your last try" in result.output
    data = json.loads(CliRunner().invoke(main, [
        "practice", "--drill", "--line", LINE, "--script", str(script), "--json"], env=env,
        catch_exceptions=False).stdout)
    assert len(data["attempts"]) == 2 and data["attempts"][1]["change"]["delta"]["overall"] > 0


def test_list_keeps_whole_ids_at_80_columns(database_url: str, tmp_path: Path) -> None:
    env = {"SALESCOACH_DATABASE_URL": database_url, "SALESCOACH_INSTANCE_PATH": str(tmp_path),
           "SALESCOACH_ENV": "test", "COLUMNS": "80"}
    out = CliRunner().invoke(main, ["practice", "--list"], env=env).output
    for sid in ("competitor-comparison", "gatekeeper-cold-call", "technical-evaluator"):
        assert sid in out


def test_customer_paths_without_a_crm_degrade_or_are_precise_errors(client: Any,
                                                         rep: dict[str, str]) -> None:
    assert client.get(f"{API}/drill-lines", headers=rep).get_json() == {"items": []}
    # Drill lines degrade silently without a CRM (past calls only); a session asks for it.
    resp = client.get(f"{API}/drill-lines?record_id=003XYZ", headers=rep)
    assert resp.status_code == 200 and resp.get_json() == {"items": []}
    resp = client.post(f"{API}/sessions", json={"record_id": "003XYZ"}, headers=rep)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "no_crm"
    resp = client.post(f"{API}/sessions", json={"record_id": ["x"]}, headers=rep)
    assert resp.status_code == 400 and resp.get_json()["error"]["details"]["field"] == "record_id"
