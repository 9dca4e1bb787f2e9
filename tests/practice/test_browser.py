"""End to end in Debian Chromium: sign in through /demo, practise a scenario on the panel's
practice tab (typed replies and one spoken reply), and see the scorecard and progress."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import serve_wsgi

from .replies import GOOD_CLOSE, GOOD_ROI, GOOD_SPRAWL, WEAK_ROI

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def fake_mic_args(tmp_path: Path, text: str) -> list[str]:
    """Chromium arguments whose fake microphone plays ``text`` spoken by espeak-ng."""
    wav = tmp_path / "mic.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(wav), text], check=True,
                   capture_output=True)
    return [*ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}"]


@pytest.fixture
def base_url(app: Any) -> Iterator[str]:
    with serve_wsgi(app) as url:
        yield url


def test_rep_completes_a_practice_session_and_sees_the_scorecard(base_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            # given the demo rep signed in, on the practice tab
            page.goto(f"{base_url}/demo")
            page.click("nav.tabs a:has-text('Practice')")
            expect(page).to_have_url(re.compile(r"/panel/practice\?t=."))
            # when they start the CFO discovery scenario
            page.click("#start-cfo-discovery")
            expect(page.locator(".msg.buyer").first).to_contain_text("Margaret here")
            expect(page.locator("#patience")).to_have_text("Patience: 3")
            # and answer weakly first
            page.fill("#reply-text", WEAK_ROI)
            page.click("#send-btn")
            card = page.locator(".scorecard-reply[data-seq='1']")
            expect(card.locator(".quality")).to_have_text("weak", timeout=120_000)
            expect(card.locator("[data-dim='content'] .reason")).to_contain_text("Missing")
            expect(card.locator(".improved")).to_contain_text("month-end close")
            expect(page.locator(".msg.buyer").last).to_contain_text("payback")
            expect(page.locator("#patience")).to_have_text("Patience: 2")
            # a reload loses nothing: the unfinished session can be resumed
            page.reload()
            page.click("#resume-btn")
            expect(page.locator(".scorecard-reply[data-seq='1'] .quality")).to_have_text("weak")
            expect(page.locator(".msg.rep")).to_have_count(1)
            # an empty reply is refused on the page, nothing is sent
            page.fill("#reply-text", "   ")
            page.click("#send-btn")
            expect(page.locator("#practice-error")).to_contain_text("Type a reply first")
            # then handle every objection and agree a next step
            for seq, text in enumerate([GOOD_ROI, GOOD_SPRAWL, GOOD_CLOSE], start=2):
                page.fill("#reply-text", text)
                page.click("#send-btn")
                expect(page.locator(f".scorecard-reply[data-seq='{seq}'] .quality")).to_have_text(
                    "good", timeout=60_000)
            # then the scorecard and the progress chart show
            sc = page.locator("#scorecard")
            expect(sc).to_be_visible()
            expect(sc).to_contain_text("Next step agreed")
            expect(sc.locator("tbody tr")).to_have_count(3)
            expect(sc).to_contain_text("Practise next")
            expect(page.locator("#progress svg.progress-chart circle")).to_have_count(1)
            expect(page.locator("#send-btn")).to_be_disabled()
            assert not errors, errors
        finally:
            browser.close()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_rep_answers_by_voice_with_the_microphone_button(base_url: str, tenants: Any,
                                                         tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    # given Chromium whose fake microphone plays a spoken answer to the gatekeeper
    args = fake_mic_args(tmp_path, "This is Sam from RouteIQ, I am calling about fuel costs "
                                   "on your delivery routes.")
    token = tenants.token(tenants.identity("voice-browser", "rep-mic"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base_url}/panel/practice?t={token}")
            page.click("#start-gatekeeper-cold-call")
            expect(page.locator(".msg.buyer").first).to_contain_text("Linda")
            # when the rep records an answer and stops
            page.click("#mic-btn")
            expect(page.locator("#mic-btn")).to_have_class("secondary recording")
            page.wait_for_timeout(6000)
            page.click("#mic-btn")
            # then the transcript is scored as a voice reply
            card = page.locator(".scorecard-reply[data-seq='1']")
            expect(card).to_contain_text("(voice)", timeout=120_000)
            expect(page.locator(".msg.rep").first).to_contain_text("fuel", ignore_case=True)
            assert not errors, errors
        finally:
            browser.close()


def test_drill_and_brief_in_a_400px_sidebar(base_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base_url}/demo")
            page.click("nav.tabs a:has-text('Practice')")
            # a drill: customer line, a flawed answer, then a better try
            page.fill("#drill-line", "Your price is too high, we need thirty percent off.")
            page.fill("#drill-text", "Okay, I can do 40% off if you sign today.")
            page.click("#drill-btn")
            result = page.locator("#drill-result .scorecard-reply")
            expect(result.locator(".quality")).to_have_text("weak", timeout=120_000)
            expect(result.locator("[data-flaw='discount']")).to_be_visible()
            page.fill("#drill-text", "I understand. What is the thirty percent based on? If you "
                                     "commit to two years I can offer 10% off. Would that work?")
            page.click("#drill-btn")
            expect(page.locator("#drill-change")).to_contain_text("Since your last try",
                                                                  timeout=120_000)
            # a session shows the brief the content score checks against
            page.click("#start-procurement-price")
            expect(page.locator("#brief-body")).to_contain_text("Up to 10% discount")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 400, width
            assert not errors, errors
        finally:
            browser.close()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_a_drill_answered_by_voice_shows_the_transcript_and_its_feedback(base_url: str,
                                                                         tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    # given Chromium whose fake microphone plays a spoken answer to a price objection
    args = fake_mic_args(tmp_path, "I understand. What is the budget you are comparing us with?")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page(viewport={"width": 400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base_url}/demo")
            page.click("nav.tabs a:has-text('Practice')")
            # recording needs the customer's line first
            page.click("#drill-mic")
            expect(page.locator("#practice-error")).to_contain_text("customer's line first")
            page.fill("#drill-line", "Your price is too high for us.")
            # when the rep records an answer and stops
            page.click("#drill-mic")
            expect(page.locator("#drill-mic")).to_have_class("secondary recording")
            page.wait_for_timeout(5000)
            page.click("#drill-mic")
            # then the transcript fills the answer box and the drill is scored
            result = page.locator("#drill-result .scorecard-reply")
            expect(result.locator(".head")).to_contain_text("Drill", timeout=120_000)
            expect(page.locator("#drill-text")).to_have_value(re.compile("budget", re.I))
            assert not errors, errors
        finally:
            browser.close()
