"""How late a watcher on another web process sees a live call's events.

A scripted call (espeak-ng voices) is streamed at 4x real time into a producer socket served
by this process; the same rep watches it through a second real server process
(``tests/live/serve_process.py``) sharing the database and the live bus. For every ``final``
and ``nudge`` the watcher's receive time is compared with the producer's.

    python bench/watch.py [--bus file|redis|both] [--redis redis://127.0.0.1:6379/9]

Last line: one JSON object, per bus ``{events, p50_ms, p95_ms, max_ms, missing}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _client(url: str, token: str) -> Any:
    from websockets.sync.client import connect

    ws = connect(url, max_size=2**22, open_timeout=30)
    ws.send(json.dumps({"type": "auth", "token": token}))  # the first message authenticates
    events: list[tuple[float, dict[str, Any]]] = []

    def read() -> None:
        try:
            for msg in ws:
                events.append((time.monotonic(), json.loads(msg)))
        except Exception:  # noqa: BLE001 - closed
            return

    threading.Thread(target=read, daemon=True).start()
    return ws, events


def _wait(events: list[tuple[float, dict[str, Any]]], pred: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(pred(e) for _, e in events):
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out; got {[e.get('type') for _, e in events]}")


def run(bus: str, redis_url: str) -> dict[str, Any]:
    import numpy as np
    from werkzeug.serving import make_server

    from plugin import migrate
    from plugin.app import create_app
    from plugin.db import db
    from plugin.live.scripted import Line, build_call
    from plugin.security import Identity
    from plugin.tenancy import ensure_tenant, ensure_user

    tmp = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    migrate.upgrade(url)
    overrides = {"env": "test", "database_url": url, "instance_path": str(tmp),
                 "secret_key": "bench-secret", "demo": True,
                 "pubsub_url": redis_url if bus == "redis" else ""}
    app = create_app(overrides)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    other = subprocess.Popen([sys.executable, str(ROOT / "tests/live/serve_process.py"),
                              json.dumps(overrides)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None
        port = int(other.stdout.readline().split()[1])
        with db.session_scope() as s:
            ensure_tenant(s, "demo", "demo")
            user = ensure_user(s, "demo", "rep-1", name="Rep")
            ident = Identity(tenant_id="demo", user_id=user.id, crm_user_id="rep-1", name="Rep")
        token = app.extensions["salescoach.signer"].issue(ident)
        stereo, _ = build_call((
            Line("rep", "Hi, this is Dana from Acme. What are your goals for this quarter?"),
            Line("customer", "Honestly, the price is way too expensive for our budget."),
            Line("rep", "I understand. What budget did you have in mind?"),
            Line("customer", "About ten thousand dollars a year, and we also looked at Gong."),
            Line("rep", "Thanks. Shall I send a proposal by Friday?"),
            Line("customer", "Yes, please send it to me and to our CFO."),
        ), gap_ms=800, lead_ms=300, tail_ms=1200)
        pws, pev = _client(f"ws://127.0.0.1:{server.server_port}/ws/calls", token)
        pws.send(json.dumps({"type": "start", "sample_rate": 16000,
                             "channels": ["rep", "customer"]}))
        _wait(pev, lambda e: e["type"] == "ready", 600)
        call_id = next(e for _, e in pev if e["type"] == "ready")["call_id"]
        wws, wev = _client(f"ws://127.0.0.1:{port}/ws/calls", token)
        wws.send(json.dumps({"type": "watch", "call_id": call_id}))
        _wait(wev, lambda e: e["type"] == "ready", 30)
        step, t0 = 1600, time.monotonic()
        for i, pos in enumerate(range(0, stereo.shape[0], step)):
            for ch in range(2):
                pws.send(bytes([ch]) + np.ascontiguousarray(
                    stereo[pos:pos + step, ch]).astype("<i2").tobytes())
            delay = t0 + (i + 1) * 0.1 / 4 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        pws.send(json.dumps({"type": "stop"}))
        _wait(wev, lambda e: e["type"] == "ended", 120)

        def times(events: list[tuple[float, dict[str, Any]]]) -> dict[tuple[str, int], float]:
            return {(e["type"], int(e["seq"] if e["type"] == "final" else e["id"])): t
                    for t, e in events if e["type"] in ("final", "nudge")
                    and not e.get("replayed")}

        produced, watched = times(pev), times(wev)
        lags = sorted((watched[k] - t) * 1000 for k, t in produced.items() if k in watched)
        pws.close()
        wws.close()

        def pct(p: float) -> float:
            return round(lags[min(len(lags) - 1, int(p * len(lags)))], 1) if lags else -1.0

        return {"events": len(lags), "p50_ms": pct(0.5), "p95_ms": pct(0.95),
                "max_ms": round(lags[-1], 1) if lags else -1.0,
                "missing": len([k for k in produced if k not in watched])}
    finally:
        other.terminate()
        other.wait(timeout=20)
        server.shutdown()
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bus", choices=("file", "redis", "both"), default="both")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    args = parser.parse_args()
    buses = ("file", "redis") if args.bus == "both" else (args.bus,)
    out = {bus: run(bus, args.redis) for bus in buses}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
