"""The CRM sandbox speaks both vendors' wire formats over TLS; checked with plain HTTPS and
the vendors' SDKs (simple-salesforce, hubspot-api-client)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner
from hubspot import HubSpot
from simple_salesforce import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest

from plugin.crm.http import CrmSession
from plugin.sandbox.server import start_sandbox


@pytest.fixture
def sbx(sandbox: Any) -> Any:
    sandbox.clear()
    return sandbox


def get(sbx: Any, path: str, token: str = "", **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(sbx.base_url + path, headers=headers, verify=sbx.ca_path, timeout=10,
                        allow_redirects=False, **kw)


def sf_client(sbx: Any, token: str) -> Salesforce:
    return Salesforce(session_id=token, instance_url=sbx.base_url, version="62.0",
                      session=CrmSession(verify=sbx.ca_path))


def errors_of(exc: Any) -> list[dict[str, Any]]:
    """The Salesforce error list simple-salesforce attached to its exception."""
    return list(exc.content)


def task(sf: Salesforce) -> SFType:
    return SFType("Task", sf.session_id, sf.sf_instance, sf_version=sf.sf_version,
                  session=sf.session, salesforce=sf)


def test_salesforce_oauth_code_and_refresh_grants(sbx: Any) -> None:
    ident = sbx.ident
    # given the consent URL, the sandbox auto-approves and redirects back with a code
    resp = get(sbx, "/services/oauth2/authorize", params={
        "response_type": "code", "client_id": ident["sf_client_id"],
        "redirect_uri": "https://app.example/oauth/salesforce/callback", "state": "s1"})
    assert resp.status_code == 302
    back = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert back["state"] == ["s1"]
    token_url = sbx.base_url + "/services/oauth2/token"
    form = {"grant_type": "authorization_code", "code": back["code"][0],
            "client_id": ident["sf_client_id"], "client_secret": ident["sf_client_secret"],
            "redirect_uri": "https://app.example/oauth/salesforce/callback"}
    tok = requests.post(token_url, data=form, verify=sbx.ca_path, timeout=10).json()
    assert tok["instance_url"] == sbx.base_url and tok["token_type"] == "Bearer"
    assert tok["id"].endswith(f"/id/{ident['sf_org_id']}/{ident['sf_user_id']}")
    expected = base64.b64encode(hmac.new(ident["sf_client_secret"].encode(),
                                         (tok["id"] + tok["issued_at"]).encode(),
                                         hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(tok["signature"], expected)
    # a code works once
    again = requests.post(token_url, data=form, verify=sbx.ca_path, timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # the identity URL names org and user
    who = requests.get(tok["id"], headers={"Authorization": f"Bearer {tok['access_token']}"},
                       verify=sbx.ca_path, timeout=10).json()
    assert who["organization_id"] == ident["sf_org_id"]
    # the refresh grant gives a new access token and no new refresh token
    fresh = requests.post(token_url, verify=sbx.ca_path, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
        "client_id": ident["sf_client_id"], "client_secret": ident["sf_client_secret"]}).json()
    assert fresh["access_token"] != tok["access_token"] and "refresh_token" not in fresh


def test_hubspot_oauth_through_the_sdk(sbx: Any) -> None:
    ident = sbx.ident
    resp = get(sbx, "/oauth/authorize", params={
        "client_id": ident["hs_client_id"], "scope": "oauth crm.objects.contacts.read",
        "redirect_uri": "https://app.example/oauth/hubspot/callback"})
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    client = HubSpot(host=sbx.base_url, ssl_ca_cert=sbx.ca_path)
    tokens = client.oauth.tokens_api.create(
        grant_type="authorization_code", code=code, client_id=ident["hs_client_id"],
        client_secret=ident["hs_client_secret"],
        redirect_uri="https://app.example/oauth/hubspot/callback")
    assert tokens.expires_in == 1800 and tokens.refresh_token
    info = client.oauth.access_tokens_api.get(tokens.access_token)
    assert str(info.hub_id) == ident["hs_portal_id"] and str(info.user_id) == ident["hs_user_id"]


def test_soql_subset_filters_sorts_limits_and_follows_relationships(sbx: Any) -> None:
    sf = sf_client(sbx, sbx.mint("salesforce")["access_token"])
    res = sf.query("SELECT Id, Name, Title, Account.Name FROM Contact "
                   "WHERE Title != 'CEO' ORDER BY LastName DESC LIMIT 2")
    assert res["done"] is True and res["totalSize"] == 2
    assert [r["Name"] for r in res["records"]] == ["James O'Neill", "Priya Natarajan"]
    assert res["records"][0]["attributes"]["type"] == "Contact"
    assert res["records"][0]["Account"]["Name"] == "Globex Manufacturing"
    assert sf.api_usage["api-usage"].total == 15000  # parsed from Sforce-Limit-Info
    opps = sf.query("SELECT Name, Amount FROM Opportunity WHERE IsClosed = false "
                    "AND Amount >= 20000 ORDER BY Amount ASC")
    assert [r["Amount"] for r in opps["records"]] == [22000, 48000, 120000]


def test_salesforce_errors_use_the_vendor_shapes(sbx: Any) -> None:
    token = sbx.mint("salesforce")["access_token"]
    sf = sf_client(sbx, token)
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.query("SELECT Nope FROM Contact")
    assert errors_of(bad.value)[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope' on entity 'Contact'" in errors_of(bad.value)[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as missing:
        task(sf).create({"Subject": "x", "Bogus__c": 1})
    assert errors_of(missing.value)[0]["errorCode"] == "INVALID_FIELD"
    sbx.expire_tokens(token)
    with pytest.raises(SalesforceExpiredSession) as expired:
        sf.query("SELECT Id FROM Contact")
    assert errors_of(expired.value) == [{"message": "Session expired or invalid",
                                      "errorCode": "INVALID_SESSION_ID"}]


def test_salesforce_upsert_by_external_id_creates_then_matches(sbx: Any) -> None:
    sf = sf_client(sbx, sbx.mint("salesforce")["access_token"])
    who = sbx.person("maria")["sf_id"]
    body = {"Subject": "Call", "TaskSubtype": "Call", "Status": "Completed", "WhoId": who}
    first = task(sf).upsert("SalesCoach_Call_Key__c/k-upsert", body, raw_response=True)
    assert first.status_code == 201 and first.json()["created"] is True
    # TaskSubtype is create-only, as in Salesforce: updating through upsert is refused
    with pytest.raises(SalesforceMalformedRequest) as refused:
        task(sf).upsert("SalesCoach_Call_Key__c/k-upsert", body, raw_response=True)
    assert errors_of(refused.value)[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    update = task(sf).upsert("SalesCoach_Call_Key__c/k-upsert", {"Subject": "Call (edited)"},
                            raw_response=True)
    assert update.status_code == 200 and update.json() == {
        "id": first.json()["id"], "success": True, "errors": [], "created": False}
    found = task(sf).get_by_custom_id("SalesCoach_Call_Key__c", "k-upsert")
    assert found["Subject"] == "Call (edited)" and found["Id"] == first.json()["id"]


def test_hubspot_contact_read_with_associations_through_the_sdk(sbx: Any) -> None:
    sbx.reset()  # only the demo data: other modules share this instance's sandbox database
    client = HubSpot(access_token=sbx.mint("hubspot")["access_token"], host=sbx.base_url,
                     ssl_ca_cert=sbx.ca_path)
    maria = sbx.person("maria")["hs_id"]
    contact = client.crm.contacts.basic_api.get_by_id(
        maria, properties=["firstname", "jobtitle"], associations=["calls", "notes", "companies"])
    assert contact.properties["jobtitle"] == "VP Operations"
    assert len(contact.associations["calls"].results) == 2
    assert contact.associations["calls"].results[0].type == "contact_to_call"
    assert len(contact.associations["companies"].results) == 1


def test_hubspot_validation_uniqueness_and_auth_errors(sbx: Any) -> None:
    token = sbx.mint("hubspot")["access_token"]
    url = sbx.base_url + "/crm/v3/objects/calls"
    auth = {"Authorization": f"Bearer {token}"}
    bad = requests.post(url, json={"properties": {"hs_call_title": "x", "nope": "1"}},
                        headers=auth, verify=sbx.ca_path, timeout=10)
    assert bad.status_code == 400
    body = bad.json()
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR"
    assert 'Property \\"nope\\" does not exist' in body["message"] and body["correlationId"]
    assert "hs_timestamp is required" in body["message"]
    assert bad.headers["X-HubSpot-RateLimit-Max"] == "190"
    ok = {"properties": {"hs_timestamp": "2026-11-20T10:00:00Z", "salescoach_call_key": "u1"}}
    assert requests.post(url, json=ok, headers=auth, verify=sbx.ca_path,
                         timeout=10).status_code == 201
    dup = requests.post(url, json=ok, headers=auth, verify=sbx.ca_path, timeout=10)
    assert dup.status_code == 409 and dup.json()["category"] == "CONFLICT"
    sbx.expire_tokens(token)
    expired = requests.get(url + "/1", headers=auth, verify=sbx.ca_path, timeout=10)
    assert expired.status_code == 401 and expired.json()["category"] == "EXPIRED_AUTHENTICATION"


def test_faults_are_validated_applied_in_vendor_shape_and_used_up(sbx: Any) -> None:
    nope = requests.post(sbx.base_url + "/_sandbox/faults", json={"status": 200},
                         headers=sbx.admin_headers, verify=sbx.ca_path, timeout=10)
    assert nope.status_code == 400 and "status must be" in nope.json()["error"]["message"]
    sbx.fault(path="/crm/v3/objects/contacts", status=429, retry_after=2, count=1)
    token = sbx.mint("hubspot")["access_token"]
    first = get(sbx, "/crm/v3/objects/contacts/" + sbx.person("tom")["hs_id"], token)
    assert first.status_code == 429 and first.headers["Retry-After"] == "2"
    assert first.json()["category"] == "RATE_LIMITS" and first.json()["policyName"]
    assert get(sbx, "/crm/v3/objects/contacts/" + sbx.person("tom")["hs_id"],
               token).status_code == 200
    sbx.fault(path="/services/data", status=503, count=1)
    sf = get(sbx, "/services/data/v62.0/query", sbx.mint("salesforce")["access_token"],
             params={"q": "SELECT Id FROM Account"})
    assert sf.status_code == 503 and sf.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"


def test_seed_data_is_a_realistic_book_of_customers(sbx: Any) -> None:
    sf = sf_client(sbx, sbx.mint("salesforce")["access_token"])
    people = sbx.people()
    assert len(people) >= 6 and len({p["company"] for p in people}) >= 4
    assert all(p["title"] for p in people)
    opps = sf.query("SELECT Name, StageName, Amount FROM Opportunity WHERE IsClosed = false")
    assert opps["totalSize"] >= 3 and all(r["Amount"] for r in opps["records"])
    notes = " ".join(r["Description"] or "" for r in sf.query(
        "SELECT Description FROM Task WHERE TaskSubtype = 'Call'")["records"])
    for topic in ("budget", "Gong", "Q1", "January"):
        assert topic.lower() in notes.lower()


def test_ca_identity_data_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    first = start_sandbox(tmp_path)
    ca = Path(first.ca_path).read_bytes()
    ident = dict(first.state.ident)
    token = requests.post(first.base_url + "/_sandbox/tokens", json={"vendor": "hubspot"},
                          headers=first.admin_headers, verify=first.ca_path,
                          timeout=10).json()["access_token"]
    first.stop()
    assert not (tmp_path / "sandbox" / "running.json").exists()
    second = start_sandbox(tmp_path)
    try:
        assert Path(second.ca_path).read_bytes() == ca and second.state.ident == ident
        contact = next(iter(second.state.store.all("contacts")))["id"]
        resp = requests.get(f"{second.base_url}/crm/v3/objects/contacts/{contact}",
                            headers={"Authorization": f"Bearer {token}"},
                            verify=second.ca_path, timeout=10)
        assert resp.status_code == 200
    finally:
        second.stop()


def test_reset_restores_demo_data_and_drops_written_activities(sbx: Any) -> None:
    sf = sf_client(sbx, sbx.mint("salesforce")["access_token"])
    task(sf).create({"Subject": "temp", "WhoId": sbx.person("liam")["sf_id"]})
    assert any(a["data"]["Subject"] == "temp" for a in sbx.activities("salesforce"))
    ids_before = [p["sf_id"] for p in sbx.people()]
    sbx.reset()
    assert sbx.activities() == []
    assert [p["sf_id"] for p in sbx.people()] == ids_before


def test_cli_seed_prints_credentials_and_people(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from plugin.cli import main

    monkeypatch.setenv("SALESCOACH_INSTANCE_PATH", str(tmp_path))
    out = CliRunner().invoke(main, ["sandbox", "seed"])
    assert out.exit_code == 0, out.output
    assert re.search(r"Salesforce org 00D\w{15}", out.output)
    assert "Maria Chen" in out.output and (tmp_path / "sandbox" / "ca.pem").is_file()
    assert CliRunner().invoke(main, ["sandbox", "serve", "--help"]).exit_code == 0
    reset = CliRunner().invoke(main, ["sandbox", "reset", "--yes"])
    assert reset.exit_code == 0 and "Contact 5" in reset.output


@pytest.mark.parametrize("method, path", [("POST", "/_sandbox/tokens"),
                                          ("POST", "/_sandbox/tokens/expire"),
                                          ("POST", "/_sandbox/faults"),
                                          ("POST", "/_sandbox/reset"),
                                          ("GET", "/_sandbox/directory"),
                                          ("GET", "/_sandbox/info"),
                                          ("GET", "/_sandbox/activities")])
def test_the_admin_api_needs_its_token_even_in_demo(sbx: Any, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = requests.request(method, sbx.base_url + path, json={"vendor": "hubspot"},
                                headers=headers, verify=sbx.ca_path, timeout=10)
        assert resp.status_code == 401, resp.text
        assert "access_token" not in resp.text and "people" not in resp.text
    # the liveness probe stays open; the product's token (instance folder) opens the rest
    assert get(sbx, "/_sandbox/health").status_code == 200
    token_file = sbx.handle.paths.admin_token
    assert token_file.stat().st_mode & 0o777 == 0o600
    ok = requests.get(sbx.base_url + "/_sandbox/info", verify=sbx.ca_path, timeout=10,
                      headers={"Authorization": f"Bearer {token_file.read_text().strip()}"})
    assert ok.status_code == 200
