"""Recording consent on the live socket: under a two_party policy a start carrying customer
audio without ``consent: "obtained"`` is refused before anything is stored; the rep's own
channel alone, or a start with consent, runs and records the consent on the call."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from plugin.db import db
from plugin.models import Call, Tenant


def _two_party(tenants: Any, tenant_id: str) -> Any:
    ident = tenants.identity(tenant_id, "005LIVEC")
    with db.session_scope() as s:
        s.get(Tenant, tenant_id).settings = {"recording_consent": "two_party"}
    return ident


def _calls(tenant_id: str) -> list[Call]:
    with db.session_scope() as s:
        return list(s.scalars(select(Call).where(Call.tenant_id == tenant_id)))


def test_customer_audio_without_consent_is_refused_and_nothing_stored(panel: Any,
                                                                     tenants: Any) -> None:
    ident = _two_party(tenants, "sf:00DLIVECONSENT1")
    for channels, consent in ((["rep", "customer"], None), (["mixed"], "notified"),
                              (["customer"], "yes")):
        client = panel(ident)
        start: dict[str, Any] = {"type": "start", "sample_rate": 16000, "channels": channels}
        if consent is not None:
            start["consent"] = consent
        client.send(start)
        err = client.wait_for(lambda e: e["type"] == "error")
        assert err["code"] == "consent_required" and not err["fatal"], err
        assert "ready" not in client.types()
    assert _calls("sf:00DLIVECONSENT1") == []


def test_consent_obtained_or_the_reps_channel_alone_starts_the_call(panel: Any,
                                                                   tenants: Any) -> None:
    ident = _two_party(tenants, "sf:00DLIVECONSENT2")
    ids = {}
    for name, start in (("both", {"channels": ["rep", "customer"], "consent": "obtained"}),
                        ("rep", {"channels": ["rep"]})):
        client = panel(ident)
        client.send({"type": "start", "sample_rate": 16000, **start})
        ids[name] = client.wait_for(lambda e: e["type"] == "ready")["call_id"]
        client.send({"type": "stop"})
        client.wait_for(lambda e: e["type"] == "ended")
    got = {c.id: (c.consent_policy, c.consent) for c in _calls("sf:00DLIVECONSENT2")}
    assert got == {ids["both"]: ("two_party", "obtained"), ids["rep"]: ("two_party", "")}


def test_a_twilio_stream_needs_the_consent_parameter(server: Any, tenants: Any) -> None:
    import json

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    ident = _two_party(tenants, "sf:00DLIVECONSENT3")

    def start(params: dict[str, str]) -> str:
        # each stream carries its own one-call stream token (POST /api/v1/live/twilio)
        token = server.app.test_client().post("/api/v1/live/twilio", json={},
                                              headers=tenants.headers(ident)).json["token"]
        return json.dumps({"event": "start", "streamSid": "MZ1", "start": {
            "streamSid": "MZ1", "callSid": "CA1", "tracks": ["inbound", "outbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"token": token, **params}}})

    url = server.url("/ws/twilio").replace("http://", "ws://")
    with connect(url) as ws:
        ws.send(json.dumps({"event": "connected"}))
        ws.send(start({}))
        try:
            while True:
                ws.recv(timeout=10)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 1008
            assert "consent" in exc.rcvd.reason
    assert _calls("sf:00DLIVECONSENT3") == []
    with connect(url) as ws:
        ws.send(json.dumps({"event": "connected"}))
        ws.send(start({"consent": "obtained"}))
        deadline = time.monotonic() + 30
        while not _calls("sf:00DLIVECONSENT3") and time.monotonic() < deadline:
            time.sleep(0.1)
        ws.send(json.dumps({"event": "stop", "streamSid": "MZ1"}))
    calls = _calls("sf:00DLIVECONSENT3")
    assert [(c.source, c.consent_policy, c.consent) for c in calls] == [
        ("twilio", "two_party", "obtained")]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs chromium")
def test_the_panel_asks_for_two_party_consent_and_sends_it(server: Any, tenants: Any) -> None:
    import shutil

    from playwright.sync_api import expect, sync_playwright

    ident = _two_party(tenants, "sf:00DLIVECONSENT4")
    token = tenants.token(ident)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=args)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{server.port}/panel/live?t={token}")
            expect(page.locator("#consent-text")).to_contain_text("Every party must agree")
            # the rep's own channel alone may start without the customer's consent
            page.select_option("#customer-src", "none")
            expect(page.locator("#start")).to_be_enabled()
            # with the customer's side it waits for the box, then sends consent: obtained
            page.select_option("#customer-src", "mixed")
            expect(page.locator("#start")).to_be_disabled()
            page.check("#consent")
            page.click("#start")
            deadline = time.monotonic() + 60
            while not _calls("sf:00DLIVECONSENT4") and time.monotonic() < deadline:
                time.sleep(0.2)
            expect(page.locator("#stop")).to_be_enabled(timeout=30_000)
            page.click("#stop")
            assert not errors, errors
        finally:
            browser.close()
    assert [(c.consent_policy, c.consent) for c in _calls("sf:00DLIVECONSENT4")] == [
        ("two_party", "obtained")]
