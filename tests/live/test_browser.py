"""End to end in Debian Chromium: the panel captures the (fake) microphone, the transcript
and the price-objection nudge appear on the page, and a 👍 is stored."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from plugin.db import db
from plugin.live.scripted import synthesize, write_wav
from plugin.models import Nudge

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs chromium")]

CUSTOMER_LINE = "Honestly, the price is way too expensive for our budget this year."


def _customer_wav(tmp_path: Path) -> Path:
    speech = synthesize(CUSTOMER_LINE, "en-gb")
    pad = np.zeros(16000, dtype=np.int16)
    return write_wav(tmp_path / "customer.wav", np.concatenate([pad, speech, pad, pad, pad]))


def test_panel_listens_to_the_customer_channel_and_shows_the_price_nudge(
        server: Any, tenants: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    # given Chromium whose fake capture device plays a customer raising a price objection
    wav = _customer_wav(tmp_path)
    token = tenants.token(tenants.identity())
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=args)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            logs: list[str] = []
            page.on("console", lambda m: logs.append(m.text))
            page.goto(f"http://127.0.0.1:{server.port}/panel/live?t={token}")
            expect(page.locator("#consent-text")).to_contain_text("consent")
            # when the rep lists devices, takes the input device as the customer's side with
            # the microphone off (listen-only), confirms consent and starts
            page.click("#devices")
            expect(page.locator("#customer-src option[data-device]").first).to_be_attached()
            device = page.locator("#customer-src option[data-device]").first.get_attribute("value")
            page.select_option("#rep-mic", "off")
            page.select_option("#customer-src", device)
            expect(page.locator("#start")).to_be_disabled()
            page.check("#consent")
            page.click("#start")
            # then the customer's words appear in the transcript and the price nudge shows
            expect(page.locator("#transcript .line.customer").first).to_contain_text(
                re.compile(r"expensive|pric", re.I), timeout=120_000)
            card = page.locator(".nudge", has_text="price").first
            expect(card).to_be_visible(timeout=30_000)
            nudge_id = int(card.get_attribute("data-id") or 0)
            # and rating it stores the rating
            card.locator("button[aria-label=helpful]").click()
            expect(card.locator("button.chosen")).to_have_count(1)
            page.click("#stop")
            try:
                expect(page.locator("#ended-card")).to_be_visible(timeout=60_000)
            except AssertionError:
                print("status:", page.locator("#status").text_content(), "console:", logs)
                raise
            assert not errors, errors
        finally:
            browser.close()
    with db.session_scope() as s:
        row = s.get(Nudge, nudge_id)
        assert row is not None and row.rating == 1
        assert s.scalars(select(Nudge).where(Nudge.call_id == row.call_id)).first() is not None
