"""Watching a live call held by another web process: the producer's socket is served by
this test process, the watcher's by a second real server process sharing the database and
the live bus (Redis pub/sub when SALESCOACH_TEST_BROKER_URL names Redis, as in CI; the
embedded file bus otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plugin.coach.types import Turn
from plugin.db import db
from plugin.live import store
from plugin.tenancy import ensure_tenant

ROOT = Path(__file__).resolve().parents[2]


def _pubsub_url() -> str:
    url = os.environ.get("SALESCOACH_TEST_BROKER_URL", "")
    return url if url.startswith("redis") else ""


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"pubsub_url": _pubsub_url()}


@pytest.fixture(scope="module")
def other_process(database_url: str, instance_path: Path) -> Iterator[int]:
    """A second web process (its own registry, bus subscriptions and sockets); its port."""
    overrides = {"env": "test", "database_url": database_url,
                 "instance_path": str(instance_path), "secret_key": "test-secret",
                 "demo": True, "pubsub_url": _pubsub_url()}
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/live/serve_process.py"),
                             json.dumps(overrides)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), f"second process did not start: {line!r}"
        yield int(line.split()[1])
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.slow
def test_a_call_held_by_one_process_streams_to_a_watcher_on_another(
        panel: Any, tenants: Any, live_classes: Any, other_process: int,
        short_call: tuple[np.ndarray, Any]) -> None:
    _, PanelClient = live_classes  # noqa: N806
    stereo, _ = short_call
    ident = tenants.identity()
    # given a call fed by a producer socket on this process
    producer = panel(ident)
    producer.send({"type": "start", "sample_rate": 16000, "channels": ["rep", "customer"]})
    # (the first call of a process loads the speech models)
    call_id = producer.wait_for(lambda e: e["type"] == "ready", timeout=280)["call_id"]
    # when the same rep watches it through the other process (like the panel in the CRM
    # while the pop-out window captures)
    watcher = PanelClient(f"ws://127.0.0.1:{other_process}/ws/calls", token=tenants.token(ident))
    try:
        watcher.send({"type": "watch", "call_id": call_id})
        ready = watcher.wait_for(lambda e: e["type"] == "ready", timeout=30)
        # the holder answered (the channels come from the live call, not the database)
        assert ready["watching"] is True and ready["channels"] == ["rep", "customer"]
        producer.stream(stereo, speed=4.0)
        producer.wait_for(lambda e: e["type"] == "nudge" and "price" in e["text"].lower())
        producer.send({"type": "stop"})
        producer.wait_for(lambda e: e["type"] == "ended")
        ended = watcher.wait_for(lambda e: e["type"] == "ended", timeout=60)
        # then the watcher saw the transcript, nudges and gauges, each once and in order
        seqs = [e["seq"] for e in watcher.of("final")]
        assert seqs == [e["seq"] for e in producer.of("final")] and seqs == sorted(set(seqs))
        assert [e["id"] for e in watcher.of("nudge")] == [e["id"] for e in producer.of("nudge")]
        assert watcher.of("metrics") and ended["turns"] == len(seqs)
        assert any("price" in e["text"].lower() for e in watcher.of("nudge"))
    finally:
        watcher.close()


def test_watching_across_processes_keeps_the_tenant_wall(
        tenants: Any, live_classes: Any, other_process: int) -> None:
    _, PanelClient = live_classes  # noqa: N806
    ident = tenants.identity()
    live_id = store.create_call("demo", ident.user_id, source="twilio")
    ended_id = store.create_call("demo", ident.user_id, source="twilio")
    store.end_call("demo", ended_id, duration_ms=1000, metrics={})
    outsider = tenants.identity("t-watch-outsider", "rep-9")
    cases = [(outsider, live_id, "unknown_call"), (ident, "0" * 32, "unknown_call"),
             (ident, ended_id, "call_ended")]
    for who, call_id, code in cases:
        client = PanelClient(f"ws://127.0.0.1:{other_process}/ws/calls", token=tenants.token(who))
        try:
            client.send({"type": "watch", "call_id": call_id})
            answer = client.next_event(0, timeout=20)
            assert answer["type"] == "error" and answer["code"] == code, (call_id, answer)
        finally:
            client.close()
    store.end_call("demo", live_id, duration_ms=0, metrics={})


def test_a_live_call_no_process_holds_shows_what_is_stored(
        tenants: Any, live_classes: Any, other_process: int) -> None:
    _, PanelClient = live_classes  # noqa: N806
    ident = tenants.identity()
    with db.session_scope() as s:
        ensure_tenant(s, "demo", "demo")
    call_id = store.create_call("demo", ident.user_id, source="panel")
    store.save_turn("demo", call_id, Turn(1, "customer", "The price is too high.", 0, 900),
                    {}, [{"category": "objection", "severity": "warn", "text": "Acknowledge",
                          "rule": "price", "at_ms": 900, "turn_seq": 1}])
    client = PanelClient(f"ws://127.0.0.1:{other_process}/ws/calls", token=tenants.token(ident))
    try:
        t0 = time.monotonic()
        client.send({"type": "watch", "call_id": call_id})
        ready = client.wait_for(lambda e: e["type"] == "ready", timeout=20)
        assert ready["resume_from"] == 2 and time.monotonic() - t0 < 10
        final = client.wait_for(lambda e: e["type"] == "final")
        assert final["replayed"] and final["text"] == "The price is too high."
        assert client.wait_for(lambda e: e["type"] == "nudge")["text"] == "Acknowledge"
    finally:
        client.close()
        store.end_call("demo", call_id, duration_ms=900, metrics={})
