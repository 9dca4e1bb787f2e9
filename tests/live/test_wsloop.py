"""The I/O-loop WebSocket front (plugin/web/wsloop.py) under werkzeug and gunicorn: framing,
ordering, limits, close codes and keep-alive, with a real client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Response, request
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.sync.client import connect

from plugin.eventloop import IoLoop
from plugin.web.wsloop import LoopSocket, handed_over_response, handshake, raw_socket
from tests.support import serve_wsgi

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64 * 1024


class Echo:
    """Answers ``echo:<text>`` / ``bin:<size>``; ``burst`` sends 200 messages and a close from
    another thread; ``boom`` raises."""

    sockets: list[LoopSocket] = []
    closed: list[LoopSocket] = []

    def __init__(self, ws: LoopSocket) -> None:
        self.ws = ws

    def on_text(self, text: str) -> None:
        if text == "boom":
            raise RuntimeError("handler bug")
        if text == "burst":
            def burst() -> None:
                for i in range(200):
                    self.ws.send_text(f"n{i}")
                self.ws.close(4000, "done")
            threading.Thread(target=burst).start()
            return
        self.ws.send_text(f"echo:{text}")

    def on_binary(self, data: bytes) -> None:
        self.ws.send_text(f"bin:{len(data)}")

    def on_closed(self) -> None:
        Echo.closed.append(self.ws)


def make_echo_app() -> Flask:
    app = Flask(__name__)

    def echo() -> Response:
        raw, kind = raw_socket(request.environ)
        idle = float(request.args.get("idle", "inf"))
        ws, refusal = handshake(request.environ, max_size=LIMIT, idle_limit=lambda: idle)
        if ws is None:
            assert refusal is not None
            return refusal
        ws.handler = Echo(ws)
        Echo.sockets.append(ws)
        ws.adopt(raw)
        return handed_over_response(kind)

    app.add_url_rule("/ws/echo", "echo", echo, websocket=True)
    app.add_url_rule("/ping", "ping", lambda: "pong")
    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", params=["werkzeug", "gunicorn"])
def base(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "werkzeug":
        with serve_wsgi(make_echo_app()) as url:
            yield url.replace("http://", "ws://")
        return
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1",
         "--threads", "8", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         "tests.live.test_wsloop:make_echo_app()"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _close_of(ws: Any) -> tuple[int | None, str]:
    with pytest.raises(ConnectionClosed):
        while True:
            ws.recv(timeout=10)
    return ws.close_code, ws.close_reason or ""


def test_text_and_binary_messages_are_answered_in_order(base: str) -> None:
    with connect(f"{base}/ws/echo") as ws:
        for i in range(50):
            ws.send(f"m{i}")
            ws.send(bytes(i + 1))
        replies = [ws.recv(timeout=10) for _ in range(100)]
    assert replies == [r for i in range(50) for r in (f"echo:m{i}", f"bin:{i + 1}")]


def test_open_sockets_hold_no_request_thread(base: str) -> None:
    """gunicorn runs 8 threads here: 40 open sockets would starve it if each held one."""
    http = base.replace("ws://", "http://")
    sockets = [connect(f"{base}/ws/echo") for _ in range(40)]
    try:
        assert requests.get(f"{http}/ping", timeout=10).text == "pong"
        for i, ws in enumerate(sockets):  # every socket is still served, on the loop
            ws.send(f"s{i}")
        assert [ws.recv(timeout=10) for ws in sockets] == [f"echo:s{i}" for i in range(40)]
    finally:
        for ws in sockets:
            ws.close()


def test_no_compression_is_negotiated(base: str) -> None:
    with connect(f"{base}/ws/echo") as ws:  # the client offers permessage-deflate
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers


def test_a_fragmented_message_is_delivered_whole(base: str) -> None:
    with connect(f"{base}/ws/echo") as ws:
        ws.send(iter(["hel", "lo ", "world"]))
        assert ws.recv(timeout=10) == "echo:hello world"


def test_messages_queued_from_another_thread_all_arrive_before_the_close(base: str) -> None:
    with connect(f"{base}/ws/echo") as ws:
        ws.send("burst")
        got = []
        with pytest.raises(ConnectionClosed):
            while True:
                got.append(ws.recv(timeout=10))
        assert got == [f"n{i}" for i in range(200)]
        assert (ws.close_code, ws.close_reason) == (4000, "done")


def test_text_that_is_not_utf8_closes_with_1007(base: str) -> None:
    with connect(f"{base}/ws/echo") as ws:
        with ws.protocol_mutex:
            ws.protocol.send_frame(Frame(Opcode.TEXT, b"\xff\xfe"))
            ws.send_data()
        assert _close_of(ws)[0] == 1007


def test_a_message_above_the_limit_closes_with_1009(base: str) -> None:
    with connect(f"{base}/ws/echo", max_size=None) as ws:
        ws.send(bytes(LIMIT + 1))
        assert _close_of(ws)[0] == 1009


def test_a_failing_handler_closes_with_1011_and_the_server_goes_on(base: str) -> None:
    with connect(f"{base}/ws/echo") as ws:
        ws.send("boom")
        assert _close_of(ws)[0] == 1011
    with connect(f"{base}/ws/echo") as ws:
        ws.send("still here")
        assert ws.recv(timeout=10) == "echo:still here"


def test_an_upgrade_without_a_key_is_refused_with_400(base: str) -> None:
    http = base.replace("ws://", "http://")
    r = requests.get(f"{http}/ws/echo", headers={"Upgrade": "websocket",
                                                     "Connection": "Upgrade",
                                                     "Sec-WebSocket-Version": "13"}, timeout=10)
    assert r.status_code == 400
    assert "Sec-WebSocket-Key" in r.text


def test_the_handler_hears_when_the_client_goes() -> None:
    before = len(Echo.closed)
    with serve_wsgi(make_echo_app()) as url:
        with connect(url.replace("http://", "ws://") + "/ws/echo") as ws:
            ws.send("x")
            ws.recv(timeout=10)
        deadline = time.monotonic() + 10
        while len(Echo.closed) == before and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(Echo.closed) == before + 1


def test_a_socket_silent_past_its_idle_limit_is_closed_with_1001() -> None:
    with serve_wsgi(make_echo_app()) as url, \
            connect(url.replace("http://", "ws://") + "/ws/echo?idle=0.2") as ws:
        ws.send("x")
        ws.recv(timeout=10)
        time.sleep(0.3)
        IoLoop.get().call(Echo.sockets[-1].sweep, time.monotonic())
        code, reason = _close_of(ws)
        assert code == 1001 and "no message" in reason


def test_a_peer_that_answers_no_ping_is_dropped() -> None:
    with serve_wsgi(make_echo_app()) as url, \
            connect(url.replace("http://", "ws://") + "/ws/echo") as ws:
        ws.send("x")
        ws.recv(timeout=10)
        sock = Echo.sockets[-1]
        now = time.monotonic()

        def silent_since_a_ping() -> None:
            sock.last_rx, sock.last_ping = now - 60, now - 30
            sock.sweep(now)

        IoLoop.get().call(silent_since_a_ping)
        code, _ = _close_of(ws)
        assert code == 1006  # aborted: no close handshake with a dead peer


def test_waiting_on_the_io_loop_from_its_own_thread_fails_instead_of_hanging() -> None:
    loop = IoLoop.get()
    outcome: list[str] = []

    async def noop() -> None:
        return None

    def on_loop() -> None:
        try:
            loop.run(noop(), timeout=1)
        except RuntimeError as exc:
            outcome.append(str(exc))

    loop.call(on_loop)
    deadline = time.monotonic() + 5
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.01)
    assert outcome and "loop thread" in outcome[0]
