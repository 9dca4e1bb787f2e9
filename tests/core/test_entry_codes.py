"""Entry redirects carry a one-time, one-minute ``?code=`` instead of a long-lived session."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


def test_demo_sign_in_redirects_with_a_one_time_code(client: Any, app: Any) -> None:
    resp = client.get("/demo?next=calls")
    assert resp.status_code == 302
    target = urlsplit(resp.headers["Location"])
    query = parse_qs(target.query)
    assert target.path == "/panel/calls" and "t" not in query and "code" in query
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200
    token = re.search(r'data-token="([^"]+)"', page.get_data(as_text=True))
    assert token is not None  # the page holds the exchanged session in memory
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.status_code == 200 and me.json["tenant_id"] == "demo"
    # the code opened that one page load; a second load (or a leaked log line) opens nothing
    again = client.get(resp.headers["Location"])
    assert again.status_code == 401


def test_the_exchange_endpoint_spends_the_code_once(client: Any) -> None:
    code = parse_qs(urlsplit(client.get("/demo").headers["Location"]).query)["code"][0]
    first = client.post("/api/v1/session/exchange", json={"code": code})
    assert first.status_code == 200 and first.json["tenant_id"] == "demo"
    second = client.post("/api/v1/session/exchange", json={"code": code})
    assert second.status_code == 401 and "already used" in second.json["error"]["message"]
    forged = client.post("/api/v1/session/exchange", json={"code": code[:-3] + "abc"})
    assert forged.status_code == 401
    assert client.post("/api/v1/session/exchange", json={"code": 5}).status_code == 400
    # a code is no session token
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {code}"}
                      ).status_code == 401


def test_a_code_expires_after_its_minute(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from plugin.web import auth

    code = parse_qs(urlsplit(client.get("/demo").headers["Location"]).query)["code"][0]
    monkeypatch.setattr(auth, "ENTRY_CODE_TTL_S", 0)  # a minute is long: 0 s, a second later
    time.sleep(1.1)
    resp = client.post("/api/v1/session/exchange", json={"code": code})
    assert resp.status_code == 401 and "expired" in resp.json["error"]["message"]
