"""Session handover without third-party storage: the refresh endpoint, the one-time pop-out
link, and panel pages that answer a stale session with a sentence instead of JSON."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlparse


def test_refresh_gives_a_new_token_for_the_same_rep_and_record(client: Any, tenants: Any,
                                                               app: Any) -> None:
    ident = tenants.identity("sf:00DHANDOVER1", "005H", record_id="003H", record_type="Contact")
    resp = client.post("/api/v1/session/refresh", headers=tenants.headers(ident))
    assert resp.status_code == 200
    body = resp.json
    assert body["tenant_id"] == ident.tenant_id and body["user_id"] == ident.user_id
    assert body["expires_in"] > 0
    again = app.extensions["salescoach.signer"].verify(body["token"])
    assert again == ident


def test_refresh_refuses_a_missing_or_forged_token(client: Any) -> None:
    assert client.post("/api/v1/session/refresh").status_code == 401
    forged = client.post("/api/v1/session/refresh", headers={"Authorization": "Bearer x.y"})
    assert forged.status_code == 401 and forged.json["error"]["code"] == "unauthorized"


def _popout_url(client: Any, headers: dict[str, str], **body: Any) -> str:
    resp = client.post("/api/v1/popout", json=body, headers=headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["expires_in"] == 120
    return str(resp.json["url"])


def _page_session(page: Any, app: Any) -> Any:
    """The session a panel page was rendered with (its in-memory token, ``data-token``)."""
    import re

    found = re.search(r'data-token="([^"]+)"', page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)[:300]
    return app.extensions["salescoach.signer"].verify(found.group(1))


def test_a_popout_link_opens_the_panel_once_bound_to_rep_tenant_and_record(
        client: Any, tenants: Any, app: Any) -> None:
    ident = tenants.identity("sf:00DHANDOVER2", "005P", record_id="003P", record_type="Contact")
    url = _popout_url(client, tenants.headers(ident))
    path = urlparse(url).path
    first = client.get(path)
    assert first.status_code == 303
    target = urlparse(first.headers["Location"])
    assert target.path == "/panel/live" and parse_qs(target.query)["popout"] == ["1"]
    assert "t" not in parse_qs(target.query)  # a one-time code, no session in the URL
    page = client.get(target.path + "?" + target.query)
    assert page.status_code == 200 and b"popout" in page.data
    session = _page_session(page, app)
    assert (session.tenant_id, session.user_id, session.record_id) == (
        ident.tenant_id, ident.user_id, "003P")
    # the redirect's code opened that one page load only
    assert client.get(target.path + "?" + target.query).status_code == 401
    # the same link again is refused with a sentence saying what to do
    again = client.get(path)
    assert again.status_code == 410 and b"already used" in again.data


def test_a_popout_link_carries_the_picked_record_only_when_the_session_has_none(
        client: Any, tenants: Any, app: Any) -> None:
    bare = tenants.identity("sf:00DHANDOVER3", "005Q")
    url = _popout_url(client, tenants.headers(bare), record_id="0035g00000ABCDE",
                      record_type="Contact")
    loc = client.get(urlparse(url).path).headers["Location"]
    got = _page_session(client.get(loc), app)
    assert (got.record_id, got.record_type) == ("0035g00000ABCDE", "Contact")
    bound = tenants.identity("sf:00DHANDOVER3", "005Q", record_id="003KEEP", record_type="Lead")
    url = _popout_url(client, tenants.headers(bound), record_id="003OTHER", record_type="Contact")
    loc = client.get(urlparse(url).path).headers["Location"]
    got = _page_session(client.get(loc), app)
    assert (got.record_id, got.record_type) == ("003KEEP", "Lead")


def test_popout_input_errors_are_precise(client: Any, tenants: Any) -> None:
    headers = tenants.headers(tenants.identity("sf:00DHANDOVER4", "005R"))
    assert client.post("/api/v1/popout").status_code == 401
    bad_id = client.post("/api/v1/popout", json={"record_id": "a b", "record_type": "Contact"},
                         headers=headers)
    assert bad_id.status_code == 400 and bad_id.json["error"]["code"] == "bad_record_id"
    bad_type = client.post("/api/v1/popout", json={"record_id": "003X", "record_type": "Car"},
                           headers=headers)
    assert bad_type.status_code == 400 and bad_type.json["error"]["code"] == "bad_record_type"
    not_obj = client.post("/api/v1/popout", json=[1], headers=headers)
    assert not_obj.status_code == 400
    forged = client.get("/popout/not-a-link")
    assert forged.status_code == 400 and b"not valid" in forged.data


def test_an_expired_popout_link_says_to_open_a_new_one(client: Any, tenants: Any,
                                                       monkeypatch: Any) -> None:
    ident = tenants.identity("sf:00DHANDOVER5", "005S")
    path = urlparse(_popout_url(client, tenants.headers(ident))).path
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 600)
    resp = client.get(path)
    assert resp.status_code == 410 and b"expired" in resp.data


def test_a_stale_session_on_a_panel_page_is_a_sentence_not_json(client: Any, tenants: Any,
                                                                app: Any) -> None:
    ident = tenants.identity("sf:00DHANDOVER6", "005T")
    signer = app.extensions["salescoach.signer"]
    token = signer.issue(ident)
    signer_ttl = signer.ttl_s
    try:
        signer.ttl_s = -1  # every token is now older than the session lifetime
        for path in ("/panel/live", "/panel/practice", "/panel/calls"):
            resp = client.get(f"{path}?t={token}", headers={"Accept": "text/html"})
            assert resp.status_code == 401, path
            assert resp.mimetype == "text/html"
            assert b"Your Sales Coach session has expired." in resp.data
            assert b"reload the Salesforce or HubSpot" in resp.data
    finally:
        signer.ttl_s = signer_ttl
    missing = client.get("/panel/live")
    assert missing.status_code == 401 and b"without a Sales Coach session" in missing.data
