"""Rate limits (plugin/web/ratelimit.py): entry paths per address, work per rep, 429 with a
Retry-After and the JSON error body, and counters shared through Redis."""

from __future__ import annotations

import random
from typing import Any

import pytest
import redis

from plugin.app import create_app
from plugin.settings import load_settings
from plugin.web.ratelimit import LIMITS, storage_uri

REDIS_URL = "redis://127.0.0.1:6379/7"


def _limit_count(endpoint: str) -> int:
    return int(LIMITS[endpoint][0].split("/")[0])


def _as(addr: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": addr}}


def test_an_entry_path_answers_429_with_retry_after_past_its_limit(client: Any) -> None:
    n = _limit_count("hubspot_card.card_context")
    for _ in range(n):  # unsigned: each is refused, and each counts
        assert client.post("/hubspot/card/context", data=b"{}", **_as("10.0.0.1")).status_code \
            in (400, 401)
    resp = client.post("/hubspot/card/context", data=b"{}", **_as("10.0.0.1"))
    assert resp.status_code == 429
    assert resp.json["error"]["code"] == "rate_limited"
    assert "per 1 minute" in resp.json["error"]["details"]["limit"]
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    # another address is not affected
    assert client.post("/hubspot/card/context", data=b"{}", **_as("10.0.0.2")).status_code \
        != 429


def test_demo_login_is_limited_per_address(client: Any) -> None:
    n = _limit_count("core.demo_login")
    codes = [client.get("/demo", **_as("10.0.1.1")).status_code for _ in range(n + 1)]
    assert all(c != 429 for c in codes[:n]) and codes[n] == 429


def test_uploads_are_limited_per_rep_not_per_address(client: Any, tenants: Any) -> None:
    first, second = tenants.identity(crm_user_id="rep-a"), tenants.identity(crm_user_id="rep-b")
    n = _limit_count("recordings_api.upload")
    for _ in range(n):
        assert client.post("/api/v1/recordings", headers=tenants.headers(first),
                           **_as("10.0.2.1")).status_code == 400  # no file: refused, counted
    over = client.post("/api/v1/recordings", headers=tenants.headers(first), **_as("10.0.2.1"))
    assert over.status_code == 429 and over.headers["Retry-After"]
    # the same address, another rep: its own budget
    assert client.post("/api/v1/recordings", headers=tenants.headers(second),
                       **_as("10.0.2.1")).status_code == 400


def test_practice_replies_are_limited(client: Any, tenants: Any) -> None:
    headers = tenants.headers(tenants.identity(crm_user_id="rep-p"))
    n = _limit_count("practice_api.post_reply")
    codes = [client.post("/api/v1/practice/sessions/nope/replies", json={"text": "hi"},
                         headers=headers).status_code for _ in range(n + 1)]
    assert all(c == 404 for c in codes[:n]) and codes[n] == 429


def test_the_storage_is_redis_when_configured(tmp_path: Any) -> None:
    base = {"instance_path": tmp_path, "env": "test", "secret_key": "s"}
    assert storage_uri(load_settings(base)) == "memory://"
    assert storage_uri(load_settings({**base, "pubsub_url": REDIS_URL})) == REDIS_URL
    assert storage_uri(load_settings({**base, "pubsub_url": REDIS_URL,
                                      "ratelimit_storage_url": "memory://"})) == "memory://"


def test_two_processes_share_the_counters_in_redis(database_url: str,
                                                   instance_path: Any) -> None:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        pytest.fail("Redis is required at 127.0.0.1:6379")
    apps = [create_app({"env": "test", "database_url": database_url, "secret_key": "test-secret",
                        "instance_path": instance_path, "ratelimit_storage_url": REDIS_URL})
            for _ in range(2)]
    addr = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    n = _limit_count("core.demo_login")
    codes = [apps[i % 2].test_client().get("/demo", **_as(addr)).status_code
             for i in range(n + 1)]
    assert all(c != 429 for c in codes[:n]) and codes[n] == 429


def test_limits_can_be_turned_off(database_url: str, instance_path: Any) -> None:
    app = create_app({"env": "test", "database_url": database_url, "secret_key": "test-secret",
                      "instance_path": instance_path, "ratelimit_enabled": False})
    client = app.test_client()
    n = _limit_count("core.demo_login")
    assert all(client.get("/demo", **_as("10.0.3.1")).status_code != 429
               for _ in range(n + 3))
