"""Many reps of a brand-new org opening the widget at once: every one gets an answer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from plugin.crm_auth import sign_apex_callout
from plugin.db import db
from plugin.models import Tenant, User
from tests.support import serve_wsgi

SECRET = "sf-concurrency-secret"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"salesforce_client_id": "sf", "salesforce_client_secret": SECRET}


@pytest.fixture
def web(app: Any) -> Iterator[str]:
    with serve_wsgi(app) as url:
        yield url


def test_simultaneous_first_callouts_of_a_new_org_all_succeed(web: str) -> None:
    org = "00DRACE0000001"

    def callout(i: int) -> int:
        body = json.dumps({"orgId": org, "userId": f"005RACE{i:03d}", "recordId": "003X",
                           "objectApiName": "Contact",
                           "issuedAt": int(time.time() * 1000)}).encode()
        resp = requests.post(f"{web}/sf/widget/context", data=body, timeout=60, headers={
            "Content-Type": "application/json",
            "X-SalesCoach-Signature": sign_apex_callout(body, SECRET)})
        assert resp.json()["connected"] is False, resp.text
        return resp.status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(callout, range(6)))
    assert statuses == [200] * 6
    with db.session_scope() as s:
        assert s.get(Tenant, f"sf:{org}") is not None
        users = s.scalar(select(func.count()).select_from(User)
                         .where(User.tenant_id == f"sf:{org}"))
        assert users == 6
