"""Abuse limits of live sockets: first-message auth in time, idle sockets without a call,
per-address and per-tenant caps, the frame limit, and idle sockets holding no request
thread (a real gunicorn with 4 threads and 320 idle sockets still answers ``/healthz``)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from plugin.web.live_ws import MAX_MESSAGE_BYTES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"live_auth_timeout_s": 1.0, "live_idle_s": 3.0, "live_max_sockets_per_ip": 6,
            "live_max_sockets_per_tenant": 3}


def _closed(ws: ClientConnection, timeout: float = 15) -> tuple[int | None, str, list[Any]]:
    """Read until the server closes; (code, reason, events received)."""
    events: list[Any] = []
    with pytest.raises(ConnectionClosed):
        deadline = time.monotonic() + timeout
        while True:
            events.append(json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
    return ws.close_code, ws.close_reason or "", events


def _authed(server: Any, token: str) -> ClientConnection:
    ws = connect(server.url("/ws/calls"), open_timeout=10)
    ws.send(json.dumps({"type": "auth", "token": token}))
    return ws


def _pong(ws: ClientConnection) -> bool:
    ws.send(json.dumps({"type": "ping"}))
    return json.loads(ws.recv(timeout=10)) == {"type": "pong"}


@pytest.mark.parametrize("path", ["/ws/calls", "/ws/twilio"])
def test_a_socket_that_never_authenticates_is_closed(server: Any, path: str) -> None:
    with connect(server.url(path), open_timeout=10) as ws:
        code, reason, _ = _closed(ws)
    assert code == 1008 and reason == "unauthorized: no auth message within 1 s"


def test_the_first_message_must_authenticate(server: Any) -> None:
    with connect(server.url("/ws/calls"), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        code, reason, events = _closed(ws)
    assert events[0]["code"] == "unauthorized" and events[0]["fatal"]
    assert code == 1008 and reason.startswith("unauthorized: authenticate first")


def test_a_token_in_the_url_is_not_accepted(server: Any, tenants: Any) -> None:
    token = tenants.token(tenants.identity())
    with connect(server.url(f"/ws/calls?t={token}"), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "ping"}))
        code, reason, events = _closed(ws)
    assert events[0]["code"] == "unauthorized" and code == 1008


def test_a_start_carrying_the_token_authenticates(server: Any, tenants: Any) -> None:
    token = tenants.token(tenants.identity())
    with connect(server.url("/ws/calls"), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 16000, "channels": ["rep"],
                            "token": token}))
        assert json.loads(ws.recv(timeout=120))["type"] == "ready"
        ws.send(json.dumps({"type": "stop"}))


def test_an_authenticated_socket_with_no_call_is_closed_when_idle(server: Any,
                                                                  tenants: Any) -> None:
    ws = _authed(server, tenants.token(tenants.identity()))
    assert _pong(ws)  # pings do not make it a call
    code, reason, _ = _closed(ws)
    assert code == 1008 and reason == "idle: no call on this socket within 3 s"


def test_sockets_per_address_are_capped(server: Any, tenants: Any) -> None:
    held = [connect(server.url("/ws/calls"), open_timeout=10) for _ in range(6)]
    try:
        with connect(server.url("/ws/calls"), open_timeout=10) as ws:
            code, reason, _ = _closed(ws)
        assert code == 1013 and reason.startswith("too many live sockets from this address")
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:  # the server frees the slot once it sees the close
            ws = _authed(server, tenants.token(tenants.identity()))
            try:
                if _pong(ws):
                    break
            except ConnectionClosed:
                assert time.monotonic() < deadline, "the freed slot was never reused"
                time.sleep(0.1)
        ws.close()
    finally:
        for h in held:
            h.close()


def test_sockets_per_tenant_are_capped(server: Any, tenants: Any) -> None:
    token = tenants.token(tenants.identity())
    held = [_authed(server, token) for _ in range(3)]
    try:
        assert all(_pong(ws) for ws in held)
        with _authed(server, token) as ws:
            code, reason, events = _closed(ws)
        assert events[0]["code"] == "too_many_sockets"
        assert code == 1013 and "too many live sockets for this account" in reason
        with _authed(server, tenants.token(tenants.identity("sf:other", "rep-9"))) as other:
            assert _pong(other)  # another tenant is not affected
    finally:
        for ws in held:
            ws.close()


def test_a_message_above_the_frame_limit_closes_with_1009(server: Any, tenants: Any) -> None:
    with connect(server.url("/ws/calls"), open_timeout=10, max_size=None) as ws:
        ws.send(json.dumps({"type": "auth", "token": tenants.token(tenants.identity())}))
        ws.send(bytes(MAX_MESSAGE_BYTES + 1))
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)
        assert ws.close_code == 1009


# ---------------------------------------------------------------- idle sockets vs threads
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gunicorn(database_url: str, instance_path: Path) -> Iterator[str]:
    """``plugin.wsgi:app`` under gunicorn gthread with only 4 request threads."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SALESCOACH_ENV": "test",
           "SALESCOACH_DATABASE_URL": database_url,
           "SALESCOACH_INSTANCE_PATH": str(instance_path),
           "SALESCOACH_SECRET_KEY": "test-secret", "SALESCOACH_LIVE_AUTH_TIMEOUT_S": "4",
           "SALESCOACH_LIVE_MAX_SOCKETS_PER_IP": "1000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1",
         "--threads", "4", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         "plugin.wsgi:app"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_hundreds_of_idle_sockets_hold_no_request_thread(gunicorn: str) -> None:
    async def scenario() -> tuple[int, list[int], list[tuple[int | None, str]]]:
        sockets = []
        for _ in range(320):  # anonymous, nothing sent: what took the app down before
            sockets.append(await aconnect(f"ws://{gunicorn}/ws/twilio", open_timeout=20))
        health = []
        for _ in range(5):
            r = await asyncio.to_thread(requests.get, f"http://{gunicorn}/healthz", timeout=10)
            health.append(r.status_code)

        async def close_of(ws: Any) -> tuple[int | None, str]:
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 30)
            return ws.close_code, ws.close_reason or ""

        closes = await asyncio.gather(*(close_of(ws) for ws in sockets))
        return len(sockets), health, list(closes)

    opened, health, closes = asyncio.run(scenario())
    assert opened == 320 and health == [200] * 5
    assert set(closes) == {(1008, "unauthorized: no auth message within 4 s")}
