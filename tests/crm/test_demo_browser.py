"""The demo CRM pages in a real browser (Debian Chromium): the coach opens inside both CRMs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from plugin.sandbox.server import SandboxHandle
from tests.support import chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def instance_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-browser-instance")


@pytest.fixture
def page() -> Iterator[Any]:
    # The sandbox's certificate comes from a local test CA the browser does not know.
    with chromium(ignore_https_errors=True) as context:
        yield context.new_page()


def person(sandbox: SandboxHandle, index: int) -> dict[str, str]:
    people = requests.get(sandbox.base_url + "/_sandbox/directory", verify=sandbox.ca_path,
                          headers=sandbox.admin_headers, timeout=10).json()["people"]
    return dict(people[index])


def test_hubspot_record_shows_the_card_and_opens_the_coach_in_a_modal(
        page: Any, crm_sandbox: SandboxHandle, web: str) -> None:
    p = person(crm_sandbox, 2)
    page.goto(f"{crm_sandbox.base_url}/demo/hubspot/{p['hs_id']}")
    page.wait_for_selector("#card-not-connected", timeout=20_000)
    assert "not connected" in page.inner_text("#card-not-connected")
    page.click("#open-coach")
    page.wait_for_selector("#coach-modal.open", timeout=10_000)
    src = page.get_attribute("#coach-frame", "src") or ""
    assert src.startswith(f"{web}/panel/live?t=")
    frame = page.frame_locator("#coach-frame")
    frame.locator("header.topbar").wait_for(timeout=20_000)


def test_salesforce_record_posts_the_canvas_request_into_the_coach_frame(
        page: Any, crm_sandbox: SandboxHandle, web: str) -> None:
    p = next(x for x in [person(crm_sandbox, i) for i in range(4)] if x["sf_type"] == "Contact")
    page.goto(f"{crm_sandbox.base_url}/demo/salesforce/{p['sf_id']}")
    assert page.inner_text("#record-name") == p["name"]
    canvas = page.frame_locator("#sales-coach-canvas")
    # Not connected yet: the panel opens under a banner that says how to connect.
    canvas.locator("#connect-banner").wait_for(timeout=20_000)
    assert "not connected" in canvas.locator("#connect-banner").inner_text()
    canvas.frame_locator("#panel").locator("header.topbar").wait_for(timeout=20_000)


def test_admin_page_shows_a_malformed_playbook_with_its_line(page: Any, web: str,
                                                             tenants: Any) -> None:
    from plugin.db import db
    from plugin.security import Identity
    from plugin.tenancy import ensure_tenant, ensure_user

    with db.session_scope() as s:
        ensure_tenant(s, "sf:00DBROWSERADMIN", "salesforce", "Browser Org")
        user = ensure_user(s, "sf:00DBROWSERADMIN", "005B", "Bea Admin", role="admin")
        admin = Identity(tenant_id="sf:00DBROWSERADMIN", user_id=user.id, crm_user_id="005B",
                         name="Bea Admin", role="admin")
    page.goto(f"{web}/admin?t={tenants.token(admin)}")
    assert "sf:00DBROWSERADMIN" in page.inner_text("#tenant-id")
    assert page.locator("tr[data-kind=salesforce] .status").inner_text().strip() == "not connected"
    page.fill("#pb-text", "name: Mine\nthresholds:\n  monologue_nudge_s: -5\n")
    page.click("#upload-playbook")
    page.wait_for_selector("#upload-error", timeout=10_000)
    error = page.inner_text("#upload-error")
    assert "line 3" in error and "monologue_nudge_s" in error
    assert page.input_value("#pb-text").startswith("name: Mine")  # nothing typed is lost
