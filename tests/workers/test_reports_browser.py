"""In Debian Chromium: a rep uploads a recording on /panel/calls, follows its progress, and
opens the report with its charts, tips and PDF (real worker, real browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import chromium, serve_wsgi

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def web(worker_app: Any) -> Iterator[str]:
    with serve_wsgi(worker_app) as url:
        yield url


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium(viewport={"width": 1280, "height": 900}) as context:
        yield context.new_page()


def test_rep_uploads_a_recording_and_reads_its_report(
        worker_app: Any, celery_worker: Any, web: str, page: Any, call_wav: Path,
        tmp_path: Path) -> None:
    from plugin.db import db
    from plugin.security import Identity
    from plugin.tenancy import ensure_tenant, ensure_user

    with db.session_scope() as s:
        ensure_tenant(s, "sf:00DBROWSER00001", "salesforce")
        user = ensure_user(s, "sf:00DBROWSER00001", "005B", name="Bea Browser")
        ident = Identity("sf:00DBROWSER00001", user.id, "005B", name="Bea Browser")
    token = worker_app.extensions["salescoach.signer"].issue(ident)
    # given the calls tab
    page.goto(f"{web}/panel/calls?t={token}")
    assert page.locator("#trend svg").is_visible()
    # when the rep picks a recording and uploads it
    page.set_input_files("#upload input[type=file]", str(call_wav))
    page.click("#upload button[type=submit]")
    # then the status follows the stages and offers the report
    link = page.get_by_role("link", name="Open the report")
    link.wait_for(timeout=240_000)
    link.click()
    page.wait_for_selector("#chart-talk_ratio svg", timeout=30_000)
    for chart in ("talk_ratio", "sentiment", "speakers", "pace"):
        assert page.locator(f"#chart-{chart} svg").is_visible()
    assert page.locator("#tips li").count() >= 1
    assert page.locator(".objection").count() >= 1
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    pdf = page.request.get(web + (page.locator("#pdf-link").get_attribute("href") or ""))
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
