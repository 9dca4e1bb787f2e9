"""The coach where it lives: inside the demo Salesforce and HubSpot pages, served from
another site than the panel, in Debian Chromium with its DEFAULT privacy settings (no flag
loosens third-party storage or permissions; only the microphone is a fake device playing a
customer's price objection from the bundled demo call).

- Salesforce: the canvas iframe carries no ``allow="microphone"``; the panel says so, the
  pop-out window captures the call and the panel in the 400 px frame follows it live.
- HubSpot: the card's modal (400 px) allows the microphone; the call is captured in place.
- Both: a practice session in the frame; no console errors anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from plugin.sandbox.server import SandboxHandle
from tests.browser.conftest import connect_hubspot
from tests.practice.replies import WEAK_ROI
from tests.support import chromium

# The first test of a process waits for the speech model and the coach to load: minutes on a
# busy machine, hence the long timeout.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1800),
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs chromium")]

FAKE_MIC = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


# Optional look-ups a page handles when they fail (the browser still logs the failed load).
# None today: drill lines answer an empty list while the CRM is not connected.
HANDLED_FAILURES: tuple[str, ...] = ()


class Console:
    """Every console error and uncaught exception of a page and all its frames."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any) -> Any:
        def on_console(message: Any) -> None:
            url = str(message.location.get("url", ""))
            if message.type != "error":
                return
            if message.text.startswith("Failed to load resource") and any(
                    p in url for p in HANDLED_FAILURES):
                return
            self.errors.append(f"{message.text} ({url})")

        page.on("console", on_console)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        return page


@pytest.fixture
def browser_context(customer_wav: Path) -> Iterator[Any]:
    # The sandbox's certificate comes from a local test CA the browser does not know.
    with chromium(*FAKE_MIC, f"--use-file-for-fake-audio-capture={customer_wav}",
                  ignore_https_errors=True, viewport={"width": 1280, "height": 960}) as context:
        yield context


def people(sandbox: SandboxHandle) -> list[dict[str, str]]:
    return list(requests.get(sandbox.base_url + "/_sandbox/directory", verify=sandbox.ca_path,
                             headers=sandbox.admin_headers, timeout=10).json()["people"])


def salesforce_panel(page: Any, sandbox: SandboxHandle) -> Any:
    """The coach panel inside the demo Salesforce Contact page's canvas component."""
    contact = next(p for p in people(sandbox) if p["sf_type"] == "Contact")
    page.goto(f"{sandbox.base_url}/demo/salesforce/{contact['sf_id']}")
    canvas = page.frame_locator("#sales-coach-canvas")
    # Not connected: the canvas shows a banner above the panel's own frame.
    canvas.locator("#connect-banner").wait_for(timeout=20_000)
    return canvas.frame_locator("#panel")


def hubspot_panel(page: Any, sandbox: SandboxHandle) -> Any:
    """The coach panel in the demo HubSpot contact's app-card modal."""
    contact = people(sandbox)[2]
    page.goto(f"{sandbox.base_url}/demo/hubspot/{contact['hs_id']}")
    page.click("#open-coach", timeout=20_000)
    page.wait_for_selector("#coach-modal.open", timeout=10_000)
    return page.frame_locator("#coach-frame")


def frame_of(page: Any, path: str) -> Any:
    """The Playwright Frame (for evaluate) whose URL has ``path``."""
    return next(f for f in page.frames if path in f.url)


def choose_customer_device(panel: Any) -> None:
    """Listen-only: the fake capture device is the customer's side, the rep's mic off."""
    from playwright.sync_api import expect

    panel.locator("#devices").click()
    option = panel.locator("#customer-src option[data-device]").first
    expect(option).to_be_attached(timeout=20_000)
    panel.locator("#rep-mic").select_option("off")
    panel.locator("#customer-src").select_option(option.get_attribute("value"))
    panel.locator("#consent").check()


def expect_customer_line_and_price_nudge(panel: Any) -> None:
    """The customer's price objection reaches the transcript and its nudge shows (the
    panel's status is printed when it does not, to say where the call stopped)."""
    from playwright.sync_api import expect

    try:
        expect(panel.locator("#transcript .line.customer").first).to_contain_text(
            re.compile(r"price|spend", re.I), timeout=180_000)
        expect(panel.locator(".nudge", has_text=re.compile("price", re.I)).first
               ).to_be_visible(timeout=30_000)
    except AssertionError:
        print("status:", panel.locator("#status").inner_text(),
              "| partials:", panel.locator("#partials").inner_text(),
              "| transcript:", panel.locator("#transcript").inner_text())
        raise


def assert_newest_nudge_visible_without_scrolling(frame: Any) -> None:
    box = frame.evaluate("""() => {
        const n = document.querySelector('#nudges .nudge');
        const r = n.getBoundingClientRect();
        return {top: r.top, bottom: r.bottom, height: innerHeight, width: innerWidth,
                scrolled: scrollY, scrollWidth: document.documentElement.scrollWidth};
    }""")
    assert box["width"] <= 402, box
    assert box["scrolled"] == 0, box
    assert box["top"] >= 0 and box["bottom"] <= box["height"], box
    assert box["scrollWidth"] <= box["width"], box  # nothing wider than the sidebar


def test_salesforce_canvas_forbids_the_mic_so_the_popout_captures_and_the_frame_watches(
        browser_context: Any, crm_sandbox: SandboxHandle, web: str, live_engines: None) -> None:
    from playwright.sync_api import expect

    console = Console()
    page = console.watch(browser_context.new_page())
    # given the coach in the Salesforce canvas frame (another site, no allow="microphone")
    panel = salesforce_panel(page, crm_sandbox)
    panel.locator("#consent").check()
    # then the panel's script runs (Start enables) and says how to get the microphone
    expect(panel.locator("#start")).to_be_enabled(timeout=20_000)
    expect(panel.locator("#frame-hint")).to_contain_text("does not allow the microphone")
    panel.locator("#start").click()
    expect(panel.locator("#status")).to_contain_text("Pop-out coach")
    # when the rep opens the pop-out coach and starts the call there
    with page.expect_popup() as popup_info:
        panel.locator("#popout-btn").click()
    popup = console.watch(popup_info.value)
    # (the redirect's one-time code is exchanged and dropped from the address bar)
    popup.wait_for_url(re.compile(r"/panel/live\?popout=1&t=.+"), timeout=20_000)
    assert popup.url.startswith(web) and "code=" not in popup.url
    choose_customer_device(popup)
    popup.click("#start")
    expect(popup.locator("#start")).to_be_disabled()
    # then the frame follows the call live: transcript and the price nudge in 400 px
    expect(panel.locator("#status")).to_contain_text("Following call", timeout=30_000)
    expect_customer_line_and_price_nudge(panel)
    assert_newest_nudge_visible_without_scrolling(frame_of(page, "/panel/live"))
    expect(popup.locator(".nudge").first).to_be_visible()
    # and ending it in the pop-out ends it in the frame too
    popup.click("#stop")
    expect(panel.locator("#ended-card")).to_be_visible(timeout=60_000)
    expect(popup.locator("#ended-card")).to_be_visible(timeout=60_000)
    # and the pop-out window runs a practice session too (its tabs keep the pop-out mode)
    popup.click("nav.tabs a:has-text('Practice')")
    popup.wait_for_url(re.compile(r"/panel/practice\?t=.+&popout=1"))
    popup.click("#start-cfo-discovery", timeout=30_000)
    expect(popup.locator(".msg.buyer").first).to_contain_text("Margaret here")
    popup.fill("#reply-text", WEAK_ROI)
    popup.click("#send-btn")
    expect(popup.locator(".scorecard-reply[data-seq='1'] .quality")).to_have_text(
        "weak", timeout=240_000)
    assert not console.errors, console.errors


def test_hubspot_modal_allows_the_mic_so_the_call_is_captured_in_place(
        browser_context: Any, crm_sandbox: SandboxHandle, web: str, app: Any,
        live_engines: None) -> None:
    from playwright.sync_api import expect

    console = Console()
    page = console.watch(browser_context.new_page())
    connect_hubspot(app.config["SETTINGS"], crm_sandbox)
    # given the coach in the HubSpot card's modal (another site, allow="microphone")
    panel = hubspot_panel(page, crm_sandbox)
    expect(panel.locator("#consent-text")).to_contain_text("consent", timeout=20_000)
    expect(panel.locator("#frame-hint")).to_be_hidden()
    # then the customer on the record is in the panel, from the CRM
    expect(panel.locator("#customer-name")).to_have_text(people(crm_sandbox)[2]["name"],
                                                         timeout=30_000)
    # when the rep starts the call in place
    choose_customer_device(panel)
    device = panel.locator("#customer-src").input_value()
    panel.locator("#start").click()
    # then Start stays disabled while live and the chosen sources stay as chosen
    expect(panel.locator("#stop")).to_be_enabled(timeout=20_000)
    expect(panel.locator("#start")).to_be_disabled()
    assert panel.locator("#customer-src").input_value() == device
    assert panel.locator("#rep-mic").input_value() == "off"
    expect(panel.locator("#mode-hint")).to_contain_text("Listen-only")
    # and the price nudge shows in the 400 px frame without scrolling
    expect_customer_line_and_price_nudge(panel)
    assert_newest_nudge_visible_without_scrolling(frame_of(page, "/panel/live"))
    panel.locator("#stop").click()
    expect(panel.locator("#ended-card")).to_be_visible(timeout=60_000)
    assert not console.errors, console.errors


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_practice_session_runs_inside_the_crm_frame(
        crm: str, browser_context: Any, crm_sandbox: SandboxHandle, web: str) -> None:
    from playwright.sync_api import expect

    console = Console()
    page = console.watch(browser_context.new_page())
    panel = (salesforce_panel if crm == "salesforce" else hubspot_panel)(page, crm_sandbox)
    # given the practice tab of the panel in the CRM frame
    panel.locator("nav.tabs a", has_text="Practice").click()
    # then the scenarios load (the page script survives refused storage)
    panel.locator("#start-cfo-discovery").click(timeout=30_000)
    expect(panel.locator(".msg.buyer").first).to_contain_text("Margaret here")
    # when the rep answers
    panel.locator("#reply-text").fill(WEAK_ROI)
    panel.locator("#send-btn").click()
    # then the answer is scored and the buyer answers back, inside the frame's width
    expect(panel.locator(".scorecard-reply[data-seq='1'] .quality")).to_have_text(
        "weak", timeout=240_000)  # the first reply loads the scoring models
    expect(panel.locator(".msg.buyer")).to_have_count(2, timeout=60_000)
    # and finishing the session shows its scorecard in the frame
    panel.locator("#finish-btn").click()
    expect(panel.locator("#scorecard h2")).to_have_text("Scorecard", timeout=60_000)
    width = frame_of(page, "/panel/practice").evaluate(
        "() => [innerWidth, document.documentElement.scrollWidth]")
    assert width[0] <= 402 and width[1] <= width[0], width
    assert not console.errors, console.errors
