"""Outside demo mode, connecting without CRM app credentials says which settings to set."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"demo": False, "salesforce_client_id": "", "salesforce_client_secret": "",
            "hubspot_client_id": "", "hubspot_client_secret": ""}


def test_connect_without_app_credentials_names_the_settings(client: Any) -> None:
    resp = client.get("/admin/connect/hubspot", headers={"Accept": "application/json"})
    assert resp.status_code == 503
    assert resp.json["error"]["code"] == "crm_not_configured"
    assert "SALESCOACH_HUBSPOT_CLIENT_ID" in resp.json["error"]["message"]


def test_production_connect_goes_to_the_real_salesforce_login(client: Any, app: Any) -> None:
    app.config["SETTINGS"].salesforce_client_id = "3MVGreal"
    app.config["SETTINGS"].salesforce_client_secret = "real-secret"
    resp = client.get("/admin/connect/salesforce")
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("https://login.salesforce.com/services/oauth2/authorize?")
    assert "client_id=3MVGreal" in location and "state=" in location
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Foauth%2Fsalesforce%2Fcallback" in location


def test_canvas_without_a_consumer_secret_is_refused(client: Any) -> None:
    resp = client.post("/sf/canvas", data={"signed_request": "a.b"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 401
    assert "no Salesforce consumer secret" in resp.json["error"]["message"]
