"""Live-call fixtures: a real threaded server on 127.0.0.1:0, scripted call audio, a client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from werkzeug.serving import make_server

from plugin.live.scripted import Line, Timed, build_call, espeak_available, write_wav

pytestmark = pytest.mark.skipif(not espeak_available(), reason="needs espeak-ng")

SHORT_CALL = (
    Line("rep", "Hi, this is Dana from Acme. What are your goals for this quarter?"),
    Line("customer", "Honestly, the price is way too expensive for our budget this year."),
    Line("rep", "I understand. What budget did you have in mind?"),
    Line("customer", "About ten thousand dollars a year."),
)


class ServerThread:
    """A werkzeug threaded server (the WebSocket routes work on it) in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live_app(app: Any) -> Any:
    app.extensions["salescoach.live"].grace_s = 3.0
    return app


@pytest.fixture
def server(live_app: Any) -> Iterator[ServerThread]:
    srv = ServerThread(live_app)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def short_call() -> tuple[np.ndarray, list[Timed]]:
    return build_call(SHORT_CALL, gap_ms=800, lead_ms=300, tail_ms=1200)


@pytest.fixture(scope="session")
def short_call_wav(short_call: tuple[np.ndarray, list[Timed]],
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("audio") / "short_call.wav", short_call[0])


class PanelClient:
    """A panel-protocol client: a real WebSocket, events collected by a reader thread."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.ws: ClientConnection = connect(url, max_size=2**22, open_timeout=10, close_timeout=2)
        if token is not None:  # sockets authenticate in their first message
            self.ws.send(json.dumps({"type": "auth", "token": token}))
        self.events: list[dict[str, Any]] = []
        self.closed: tuple[int | None, str] | None = None
        self._cv = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for msg in self.ws:
                with self._cv:
                    self.events.append(json.loads(msg))
                    self._cv.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cv:
                self.closed = (self.ws.close_code, self.ws.close_reason or "")
                self._cv.notify_all()

    def send(self, obj: dict[str, Any]) -> None:
        self.ws.send(json.dumps(obj))

    def wait_for(self, pred: Any, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"event not received; got {self.types()}")
                if self.closed is not None:
                    raise AssertionError(f"socket closed {self.closed}; got {self.types()}")
                self._cv.wait(timeout=min(left, 0.5))

    def next_event(self, index: int, timeout: float = 30.0) -> dict[str, Any]:
        """The event at ``index`` (waiting for it to arrive)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.events) <= index:
                left = deadline - time.monotonic()
                assert left > 0 and self.closed is None, f"no event #{index}: {self.types()}"
                self._cv.wait(timeout=min(left, 0.5))
            return self.events[index]

    def wait_closed(self, timeout: float = 30.0) -> tuple[int | None, str]:
        deadline = time.monotonic() + timeout
        with self._cv:
            while self.closed is None and time.monotonic() < deadline:
                self._cv.wait(timeout=0.5)
        assert self.closed is not None, "socket did not close"
        return self.closed

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._cv:
            return [e for e in self.events if e.get("type") == kind]

    def types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]

    def stream(self, stereo: np.ndarray, start_s: float = 0.0, end_s: float | None = None,
               speed: float = 4.0, frame_ms: int = 100) -> None:
        """Send both channels as tagged binary frames, ``speed`` times real time."""
        step = 16 * frame_ms
        a = int(start_s * 16000)
        b = stereo.shape[0] if end_s is None else min(stereo.shape[0], int(end_s * 16000))
        t0 = time.monotonic()
        for i, pos in enumerate(range(a, b, step)):
            for ch in range(stereo.shape[1]):
                self.ws.send(bytes([ch]) + np.ascontiguousarray(
                    stereo[pos:min(pos + step, b), ch]).astype("<i2").tobytes())
            delay = t0 + (i + 1) * frame_ms / 1000 / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def panel(server: ServerThread, tenants: Any) -> Iterator[Any]:
    """Factory: ``panel(identity=None) -> PanelClient`` connected to /ws/calls."""
    clients: list[PanelClient] = []

    def make(identity: Any = None, token: str | None = None) -> PanelClient:
        tok = token if token is not None else tenants.token(identity or tenants.identity())
        c = PanelClient(server.url("/ws/calls"), token=tok)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def live_classes() -> tuple[type[ServerThread], type[PanelClient]]:
    """The server and client helpers, for tests that run more than one server."""
    return ServerThread, PanelClient
