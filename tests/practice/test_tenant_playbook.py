"""Practice feedback follows the tenant's own playbook, and a broken one never breaks practice."""

from __future__ import annotations

from typing import Any

import yaml

from plugin.coach import DEFAULT_PLAYBOOK_PATH
from plugin.db import db
from plugin.models import Playbook, Tenant

API = "/api/v1/practice"
RISKY_REPLY = ("I understand. How long does your close take? Teams save 30 hours a month, and "
               "our results are ironclad. Worth a look?")


def _use_playbook(tenant_id: str, yaml_text: str) -> None:
    with db.session_scope() as s:
        row = Playbook(tenant_id=tenant_id, name="custom", yaml_text=yaml_text)
        s.add(row)
        s.flush()
        tenant = s.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.playbook_id = row.id


def _first_reply(client: Any, headers: dict[str, str], text: str) -> dict[str, Any]:
    sid = client.post(f"{API}/sessions", json={"scenario_id": "cfo-discovery"},
                      headers=headers).get_json()["id"]
    resp = client.post(f"{API}/sessions/{sid}/replies", json={"text": text}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["reply"]


def test_tenant_risky_phrases_are_flagged_in_practice(client: Any, tenants: Any) -> None:
    # given a tenant whose playbook treats "ironclad" as a risky guarantee
    headers = tenants.headers(tenants.identity("strict-org", "rep-s"))
    data = yaml.safe_load(DEFAULT_PLAYBOOK_PATH.read_text())
    data["risky"]["guarantees"].append("ironclad")
    _use_playbook("strict-org", yaml.safe_dump(data))
    # when a rep calls their results ironclad, then the feedback flags it
    reply = _first_reply(client, headers, RISKY_REPLY)
    assert reply["content"]["details"]["risky"] == ["ironclad"]
    assert reply["quality"] == "weak"
    # and with the default playbook the same words are fine
    other = tenants.headers(tenants.identity("relaxed-org", "rep-r"))
    assert _first_reply(client, other, RISKY_REPLY)["content"]["details"]["risky"] == []


def test_invalid_tenant_playbook_falls_back_to_the_default(client: Any, tenants: Any) -> None:
    headers = tenants.headers(tenants.identity("broken-org", "rep-b"))
    _use_playbook("broken-org", "thresholds: [this is: not valid\n")
    reply = _first_reply(client, headers, RISKY_REPLY)
    assert reply["overall"] > 0 and reply["content"]["details"]["risky"] == []
