"""Managers author scenarios per tenant (line-precise errors), preview, assign them with a due
date and follow the team; reps see their assignments; tenants are walls."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from plugin.practice.authoring import ScenarioProblems, validate_yaml
from plugin.practice.scenarios import SCENARIO_DIR

API = "/api/v1/practice"


def _custom_yaml(sid: str = "acme-renewal") -> str:
    data = yaml.safe_load((SCENARIO_DIR / "renewal-at-risk.yaml").read_text())
    data["id"] = sid
    data["title"] = "Acme renewal"
    return yaml.safe_dump(data, sort_keys=False)


def test_problems_name_the_line_and_the_field() -> None:
    text = _custom_yaml().replace("patience: 3", "patience: lots")
    line = text.splitlines().index("patience: lots") + 1
    with pytest.raises(ScenarioProblems) as err:
        validate_yaml(text)
    assert {"line": line, "field": "patience",
            "message": err.value.problems[0]["message"]} in err.value.problems


def test_a_missing_field_points_at_its_mapping_and_bad_yaml_at_its_line() -> None:
    text = _custom_yaml()
    lines = text.splitlines()
    probe = next(i for i, ln in enumerate(lines) if ln.strip().startswith("probe:"))
    broken = "\n".join(lines[:probe] + lines[probe + 1:])
    with pytest.raises(ScenarioProblems) as err:
        validate_yaml(broken)
    p = err.value.problems[0]
    assert p["field"].endswith(".probe") and p["message"] == "Field required"
    assert 1 < p["line"] <= probe
    with pytest.raises(ScenarioProblems) as err:
        validate_yaml("id: x\ntitle: [unclosed\n")
    assert err.value.problems[0]["line"] in (2, 3)


@pytest.fixture
def admin(tenants: Any) -> dict[str, str]:
    from dataclasses import replace

    return tenants.headers(replace(tenants.identity("acme-org", "boss"), role="admin"))


def test_admin_previews_saves_and_reps_of_the_tenant_only_see_it(
        client: Any, tenants: Any, admin: dict[str, str]) -> None:
    bad = client.post(f"{API}/admin/scenarios/preview", json={"yaml": "id: Bad Id\n"},
                      headers=admin)
    assert bad.status_code == 422
    problems = bad.get_json()["error"]["details"]["problems"]
    assert any(p["field"] == "id" and p["line"] == 1 for p in problems)

    ok = client.post(f"{API}/admin/scenarios/preview", json={"yaml": _custom_yaml()},
                     headers=admin)
    assert ok.status_code == 200 and ok.get_json()["scenario"]["title"] == "Acme renewal"
    saved = client.post(f"{API}/admin/scenarios", json={"yaml": _custom_yaml()}, headers=admin)
    assert saved.status_code == 201
    again = client.post(f"{API}/admin/scenarios", json={"yaml": _custom_yaml()}, headers=admin)
    assert again.status_code == 200 and again.get_json()["created"] is False

    rep = tenants.headers(tenants.identity("acme-org", "rep-z"))
    ids = {s["id"] for s in client.get(f"{API}/scenarios", headers=rep).get_json()["scenarios"]}
    assert "acme-renewal" in ids
    session = client.post(f"{API}/sessions", json={"scenario_id": "acme-renewal"}, headers=rep)
    assert session.status_code == 201
    assert session.get_json()["scenario"]["brief"]["pricing"]

    other = tenants.headers(tenants.identity("other-org", "rep-y"))
    ids = {s["id"] for s in client.get(f"{API}/scenarios", headers=other).get_json()["scenarios"]}
    assert "acme-renewal" not in ids
    assert client.post(f"{API}/sessions", json={"scenario_id": "acme-renewal"},
                       headers=other).status_code == 404


def test_shipped_ids_cannot_be_overwritten_and_reps_cannot_author(
        client: Any, tenants: Any, admin: dict[str, str]) -> None:
    resp = client.post(f"{API}/admin/scenarios", json={"yaml": _custom_yaml("cfo-discovery")},
                       headers=admin)
    assert resp.status_code == 422
    rep = tenants.headers(tenants.identity("acme-org", "rep-z"))
    assert client.post(f"{API}/admin/scenarios", json={"yaml": _custom_yaml()},
                       headers=rep).status_code == 403
    assert client.get(f"{API}/admin/team", headers=rep).status_code == 403


def test_the_short_form_makes_a_valid_scenario(client: Any, admin: dict[str, str]) -> None:
    form = {"id": "acme-form", "title": "Form made", "summary": "Price push", "product_name": "X",
            "product_summary": "A tool", "value_points": "Saves 5 hours a week",
            "pricing": "$10 per user", "max_discount_pct": "5", "persona_name": "Ann",
            "persona_role": "CFO", "persona_company": "Acme", "goals": "Save money",
            "opening": "Hi.", "objection": "It's too expensive.",
            "key_points": "Ask about budget: budget, how much\nRestate value: 5 hours",
            "next_step": "Let's book Tuesday."}
    resp = client.post(f"{API}/admin/scenarios/preview", json={"form": form}, headers=admin)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["objections"][0]["line"] == "It's too expensive."
    form["max_discount_pct"] = "lots"
    resp = client.post(f"{API}/admin/scenarios/preview", json={"form": form}, headers=admin)
    assert resp.status_code == 422
    assert "max_discount_pct" in resp.get_json()["error"]["details"]["problems"][0]["field"]


def test_assignment_shows_for_the_rep_and_in_the_team_view(
        client: Any, tenants: Any, admin: dict[str, str]) -> None:
    rep_id = tenants.identity("acme-org", "rep-q")
    rep = tenants.headers(rep_id)
    resp = client.post(f"{API}/admin/assignments", json={
        "scenario_id": "timing-stall", "user_ids": [rep_id.user_id], "due_date": "2020-01-31",
        "note": "before the QBR"}, headers=admin)
    assert resp.status_code == 201, resp.get_json()
    mine = client.get(f"{API}/assignments", headers=rep).get_json()["items"]
    assert [(a["scenario_id"], a["due_date"], a["status"]) for a in mine] == [
        ("timing-stall", "2020-01-31", "overdue")]
    sid = client.post(f"{API}/sessions", json={"scenario_id": "timing-stall"},
                      headers=rep).get_json()["id"]
    client.post(f"{API}/sessions/{sid}/finish", headers=rep)
    team = client.get(f"{API}/admin/team", headers=admin).get_json()
    assert any(a["user_id"] == rep_id.user_id and a["status"] == "done"
               for a in team["assignments"])
    assert any(u["id"] == rep_id.user_id for u in team["users"])


@pytest.mark.parametrize(("body", "field"), [
    ({"scenario_id": "timing-stall", "user_ids": []}, "user_ids"),
    ({"scenario_id": "timing-stall", "user_ids": ["1"]}, "user_ids"),
    ({"scenario_id": "timing-stall", "user_ids": [1], "due_date": "31/01/2020"}, "due_date"),
    ({"scenario_id": "", "user_ids": [1]}, "scenario_id"),
])
def test_bad_assignments_are_precise_400s(client: Any, admin: dict[str, str], body: Any,
                                          field: str) -> None:
    resp = client.post(f"{API}/admin/assignments", json=body, headers=admin)
    assert resp.status_code == 400 and resp.get_json()["error"]["details"]["field"] == field


def test_another_tenants_user_cannot_be_assigned(client: Any, tenants: Any,
                                                 admin: dict[str, str]) -> None:
    stranger = tenants.identity("other-org", "rep-s")
    resp = client.post(f"{API}/admin/assignments", json={
        "scenario_id": "timing-stall", "user_ids": [stranger.user_id]}, headers=admin)
    assert resp.status_code == 404


def test_admin_page_renders_for_admins_only(client: Any, tenants: Any, app: Any) -> None:
    from dataclasses import replace

    boss = replace(tenants.identity("acme-org", "boss"), role="admin")
    page = client.get(f"/admin/practice?t={tenants.token(boss)}")
    assert page.status_code == 200 and b"pa-yaml" in page.data
    rep = tenants.identity("acme-org", "rep-z")
    assert client.get(f"/admin/practice?t={tenants.token(rep)}").status_code == 403
