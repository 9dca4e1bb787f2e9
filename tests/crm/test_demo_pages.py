"""Demo CRM pages: the sandbox's record pages reach the coach through the real entry paths."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from plugin.sandbox.server import SandboxHandle


@pytest.fixture(scope="module")
def instance_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-instance")


def sb_get(sandbox: SandboxHandle, path: str) -> requests.Response:
    headers = sandbox.admin_headers if path.startswith("/_sandbox/") else {}
    return requests.get(sandbox.base_url + path, verify=sandbox.ca_path, timeout=20,
                        headers=headers)


def people(sandbox: SandboxHandle) -> list[dict[str, str]]:
    return list(sb_get(sandbox, "/_sandbox/directory").json()["people"])


def session_of(web: str, url: str) -> str:
    """The session a panel URL opens: its ``?t=`` (widget), or its one-time ``?code=`` (an
    entry redirect) exchanged."""
    query = parse_qs(urlsplit(url).query)
    if "t" in query:
        return query["t"][0]
    resp = requests.post(f"{web}/api/v1/session/exchange", json={"code": query["code"][0]},
                         timeout=10)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


def me(web: str, token: str) -> dict[str, Any]:
    resp = requests.get(f"{web}/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                        timeout=10)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def canvas_post(sandbox: SandboxHandle, record_id: str) -> requests.Response:
    """Do what the browser does on the Salesforce demo page: submit the canvas form."""
    page = sb_get(sandbox, f"/demo/salesforce/{record_id}")
    assert page.status_code == 200
    action = re.search(r'id="canvas-form" method="post" action="([^"]+)"', page.text)
    signed = re.search(r'name="signed_request" value="([^"]+)"', page.text)
    assert action and signed
    return requests.post(unescape(action.group(1)),
                         data={"signed_request": unescape(signed.group(1))},
                         allow_redirects=False, timeout=20, headers={"Accept": "text/html"})


def connect(web: str, sandbox: SandboxHandle, kind: str) -> None:
    """An admin installs the app: our connect URL with the installer's claim code
    (``salescoach tenant claim-code``), the CRM's consent, our callback."""
    from plugin.admin_claim import new_claim_code
    from plugin.db import db

    with db.session_scope() as s:
        code = new_claim_code(s)
    browser = requests.Session()
    resp = browser.get(f"{web}/admin/connect/{kind}?claim={code}", allow_redirects=False,
                       timeout=20)
    consent = browser.get(resp.headers["Location"], allow_redirects=False,
                          verify=sandbox.ca_path, timeout=20)
    done = browser.get(consent.headers["Location"], allow_redirects=False, timeout=20)
    assert done.status_code == 303, done.text


def test_demo_index_lists_the_seeded_customers_with_both_record_pages(
        crm_sandbox: SandboxHandle, web: str) -> None:
    page = sb_get(crm_sandbox, "/demo/")
    assert page.status_code == 200
    first = people(crm_sandbox)[0]
    assert first["name"] in page.text
    assert f"/demo/salesforce/{first['sf_id']}" in page.text
    assert f"/demo/hubspot/{first['hs_id']}" in page.text


def test_salesforce_page_opens_the_coach_through_a_verified_canvas_request(
        crm_sandbox: SandboxHandle, web: str) -> None:
    person = next(p for p in people(crm_sandbox) if p["sf_type"] == "Contact")
    page = sb_get(crm_sandbox, f"/demo/salesforce/{person['sf_id']}")
    assert person["name"] in page.text and "Activity History" in page.text
    org = crm_sandbox.state.ident["sf_org_id"]
    resp = canvas_post(crm_sandbox, person["sf_id"])
    if resp.status_code == 200:  # not connected yet: the panel opens under a banner
        assert "not connected to Sales Coach yet" in resp.text
        url = unescape(re.search(r'id="panel" src="([^"]+)"', resp.text).group(1))  # type: ignore[union-attr]
    else:
        assert resp.status_code == 303
        url = resp.headers["Location"]
    ident = me(web, session_of(web, url))
    assert ident["tenant_id"] == f"sf:{org}"
    assert (ident["record_id"], ident["record_type"]) == (person["sf_id"], "Contact")


def test_hubspot_card_says_how_to_connect_then_shows_context_once_connected(
        crm_sandbox: SandboxHandle, web: str) -> None:
    person = people(crm_sandbox)[1]
    page = sb_get(crm_sandbox, f"/demo/hubspot/{person['hs_id']}")
    assert page.status_code == 200 and person["name"] in page.text
    card_url = f"{crm_sandbox.base_url}/demo/hubspot/{person['hs_id']}/card"
    before = requests.post(card_url, verify=crm_sandbox.ca_path, timeout=20)
    assert before.status_code == 200, before.text
    assert before.json()["connected"] is False
    assert before.json()["connect_url"].endswith("/admin/connect/hubspot")
    connect(web, crm_sandbox, "hubspot")
    after = requests.post(card_url, verify=crm_sandbox.ca_path, timeout=20).json()
    assert after["connected"] is True
    assert after["record"]["id"] == person["hs_id"]
    # Read from the CRM through the adapter with the tokens the OAuth flow stored.
    assert after["record"]["name"] == person["name"], after["record"]
    assert after["record"]["company"] == person["company"]
    ident = me(web, parse_qs(urlsplit(after["panel_url"]).query)["t"][0])
    assert ident["tenant_id"] == f"hs:{crm_sandbox.state.ident['hs_portal_id']}"
    assert ident["record_id"] == person["hs_id"]


def test_hubspot_card_signed_with_a_stale_secret_is_refused_by_the_web_app(
        crm_sandbox: SandboxHandle, web: str, app: Any) -> None:
    app.config["SETTINGS"].hubspot_client_id = "real-app"
    app.config["SETTINGS"].hubspot_client_secret = "a-different-secret"
    try:
        person = people(crm_sandbox)[0]
        resp = requests.post(f"{crm_sandbox.base_url}/demo/hubspot/{person['hs_id']}/card",
                             verify=crm_sandbox.ca_path, timeout=20)
        assert resp.status_code == 401
        assert "signature does not match" in resp.json()["error"]["message"]
    finally:
        app.config["SETTINGS"].hubspot_client_id = ""
        app.config["SETTINGS"].hubspot_client_secret = ""


def test_after_salesforce_connects_the_canvas_goes_straight_to_the_panel(
        crm_sandbox: SandboxHandle, web: str) -> None:
    connect(web, crm_sandbox, "salesforce")
    person = next(p for p in people(crm_sandbox) if p["sf_type"] == "Lead")
    resp = canvas_post(crm_sandbox, person["sf_id"])
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith(f"{web}/panel/live?code=")
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    exchanged = requests.post(f"{web}/api/v1/session/exchange", json={"code": code}, timeout=10)
    assert exchanged.status_code == 200, exchanged.text
    ident = me(web, exchanged.json()["token"])
    assert (ident["record_id"], ident["record_type"]) == (person["sf_id"], "Lead")
