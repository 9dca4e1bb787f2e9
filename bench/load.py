"""Load benchmark: live calls, API and widget traffic for ``--minutes`` while an attacker holds
``--idle-sockets`` anonymous idle WebSockets; errors, ``/healthz`` latency, nudge latency and
memory growth of the web process, and where the CPU went (``server_cpu_pct``,
``attacker_cpu_pct``: % of one core; the machine has ``cores``).

One server like ``salescoach serve`` (gunicorn gthread, one process; product defaults for the
socket limits, so the attacker's sockets are closed after ``live_auth_timeout_s`` and it opens
them again at once, from many loopback addresses under the per-address cap). Load:

- ``--calls`` simultaneous live calls (the scripted call of ``bench/live.py``, real-time
  audio over ``/ws/calls``, local STT or ``--stt relay``), each slot starting a new call when
  its call ends;
- API traffic at ``--api-rps`` (``/api/v1/me``, ``/api/v1/live/calls``, call reports) and
  signed HubSpot card context requests (widget traffic) at ``--widget-rpm`` (under its rate
  limit: a 429 counts as an error);
- ``/healthz`` probed every 100 ms on a new connection, from a process of its own (the
  attacker has one too), so the client side's GIL does not count in its latency.

Reported: ``errors`` (failed calls, non-2xx, timeouts; target 0), ``healthz_p99_ms`` (target
≤ 100 ms), ``audio_to_nudge_p95_ms``, ``rss_growth_pct`` (the web process's RSS at the end
against the RSS once the load is up, target ≤ 5 %), ``idle_sockets_open`` (min / mean over
the run). The last line printed is one JSON object.

``--auth-timeout 600`` makes the server keep unauthenticated sockets 600 s, so the attacker
holds ``--idle-sockets`` open with few reconnects (idle sockets alone); by default it opens
about ``idle-sockets / 5`` new ones a second (a handshake flood as well).

Usage: ``python bench/load.py [--minutes 10] [--idle-sockets 1000] [--calls 8]
[--auth-timeout 600] [--stt relay]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
from websockets.asyncio.client import connect as aconnect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.live import (  # noqa: E402
    BENCH_CALL,
    DevServer,
    Server,
    _run_call,
    call_frames,
    last_voice_ms,
    pctl,
    prepare,
    rss_mb,
    warm,
)
from plugin.crm_auth import hubspot_signing_uri, sign_hubspot_v3  # noqa: E402
from plugin.live.scripted import build_call  # noqa: E402

HUBSPOT_SECRET = "bench-hubspot-secret"
PER_ADDRESS = 40  # attacker sockets per source address (under the default cap of 100)


def raise_fd_limit(need: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, need))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


class Tally:
    """Thread-safe counters and samples of the run."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.errors: Counter[str] = Counter()
        self.error_examples: list[str] = []
        self.requests: Counter[str] = Counter()
        self.healthz_ms: list[float] = []
        self.a2n_ms: list[float] = []
        self.calls_ok = 0
        self.attack: Counter[str] = Counter()
        self.open_idle = 0
        self.open_samples: list[int] = []
        self.rss: list[tuple[float, float]] = []

    def error(self, kind: str, detail: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            if len(self.error_examples) < 10:
                self.error_examples.append(f"{kind}: {detail}"[:200])


# ------------------------------------------------------------------------------ attacker
async def idle_socket(base: str, i: int, deadline: float, tally: Tally) -> None:
    """Keep one anonymous socket open that sends nothing; reopen it whenever it is closed."""
    group = i // PER_ADDRESS
    addr = f"127.1.{group // 250}.{group % 250 + 1}"
    path = "/ws/twilio" if i % 2 else "/ws/calls"
    await asyncio.sleep(random.uniform(0, 5))
    while time.monotonic() < deadline:
        try:
            async with aconnect(base + path, open_timeout=20, ping_interval=None,
                                close_timeout=2, local_addr=(addr, 0)) as ws:
                tally.attack["opened"] += 1
                tally.open_idle += 1
                try:
                    left = deadline - time.monotonic()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(ws.wait_closed(), max(0.1, left))
                finally:
                    tally.open_idle -= 1
                tally.attack[f"closed_{ws.close_code}"] += 1
        except Exception as exc:  # noqa: BLE001 - the attacker's failures are not ours
            tally.attack[f"failed_{type(exc).__name__}"] += 1
            await asyncio.sleep(0.5)
        await asyncio.sleep(random.uniform(0, 0.2))


# ------------------------------------------------------------------------------ calls
async def call_slot(url: str, stereo: Any, frames: list[bytes], deadline: float,
                    tally: Tally, slot: int) -> None:
    await asyncio.sleep(slot * 2.0)  # staggered starts
    while time.monotonic() + stereo.shape[0] / 16000 + 10 < deadline:
        res = await _run_call(url, stereo, frames, 0.0, 1.0)
        with tally.lock:
            tally.requests["call"] += 1
            tally.a2n_ms.extend(res.audio_to_nudge_ms)
        if res.ok:
            tally.calls_ok += 1
        else:
            tally.error("call", res.error)


async def run_calls(call_url: str, calls: int, stereo: Any, deadline: float,
                    tally: Tally) -> None:
    frames = call_frames(stereo)
    await asyncio.gather(*(call_slot(call_url, stereo, frames, deadline, tally, k)
                           for k in range(calls)))


async def _attack(base_ws: str, idle: int, deadline: float, tally: Tally) -> None:
    async def count_open() -> None:
        while time.monotonic() < deadline:
            tally.open_samples.append(tally.open_idle)
            await asyncio.sleep(2.0)

    await asyncio.gather(count_open(), *(idle_socket(base_ws, i, deadline, tally)
                                         for i in range(idle)))


def attacker_process(base_ws: str, idle: int, deadline: float, q: Any) -> None:
    """The attacker in a process of its own (as on another machine: its event loop must not
    share the GIL with the probes and the calls)."""
    tally = Tally()
    asyncio.run(_attack(base_ws, idle, deadline, tally))
    use = resource.getrusage(resource.RUSAGE_SELF)
    q.put({"attack": dict(tally.attack), "open_samples": tally.open_samples,
           "cpu_s": use.ru_utime + use.ru_stime})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def prober_process(base: str, deadline: float, q: Any) -> None:
    """``/healthz`` probes in a process of their own, so their timing is the server's."""
    tally = Tally()
    healthz_probe(base, deadline, tally)
    q.put({"healthz_ms": tally.healthz_ms, "errors": dict(tally.errors),
           "examples": tally.error_examples})


# ------------------------------------------------------------------------------ HTTP load
def healthz_probe(base: str, deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            r = requests.get(f"{base}/healthz", timeout=5)  # a new connection each time
            ms = (time.monotonic() - t0) * 1000
            with tally.lock:
                tally.healthz_ms.append(ms)
                tally.requests["healthz"] += 1
            if r.status_code != 200:
                tally.error("healthz", f"status {r.status_code}")
        except requests.RequestException as exc:
            tally.error("healthz", type(exc).__name__)
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))


def api_traffic(base: str, token: str, rps: float, deadline: float, tally: Tally) -> None:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    i = 0
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        path = ("/api/v1/me", "/api/v1/live/calls", "/api/v1/practice/scenarios")[i % 3]
        i += 1
        try:
            r = http.get(base + path, timeout=10)
            with tally.lock:
                tally.requests["api"] += 1
            if r.status_code != 200:
                tally.error("api", f"{path} {r.status_code}")
        except requests.RequestException as exc:
            tally.error("api", f"{path} {type(exc).__name__}")
        time.sleep(max(0.0, 1 / rps - (time.monotonic() - t0)))


def widget_traffic(base: str, public: str, rpm: float, deadline: float, tally: Tally) -> None:
    """Signed HubSpot card context requests, as the CRM card fetches them (a new connection
    each: a kept-alive one the server closes as the POST goes out is not retried)."""
    http: Any = requests
    i = 0
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        body = json.dumps({"portalId": "777", "userId": str(100 + i % 5),
                           "userEmail": f"rep{i % 5}@example.com", "objectId": str(5000 + i),
                           "objectType": "CONTACT"})
        i += 1
        uri = hubspot_signing_uri(public, "/hubspot/card/context")
        sig, ts = sign_hubspot_v3("POST", uri, body, HUBSPOT_SECRET)
        try:
            r = http.post(base + "/hubspot/card/context", data=body, timeout=10,
                          headers={"Content-Type": "application/json",
                                   "X-HubSpot-Signature-v3": sig,
                                   "X-HubSpot-Request-Timestamp": ts})
            with tally.lock:
                tally.requests["widget"] += 1
            if r.status_code != 200:
                tally.error("widget", f"{r.status_code} {r.text[:80]}")
        except requests.RequestException as exc:
            tally.error("widget", type(exc).__name__)
        time.sleep(max(0.0, 60 / rpm - (time.monotonic() - t0)))


def sampler(pid: int, deadline: float, tally: Tally) -> None:
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        with tally.lock:
            tally.rss.append((time.monotonic() - t0, rss_mb(pid)))
        time.sleep(2.0)


# ------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--idle-sockets", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=8, help="simultaneous live calls")
    ap.add_argument("--api-rps", type=float, default=5.0)
    ap.add_argument("--widget-rpm", type=float, default=40.0)
    ap.add_argument("--threads", type=int, default=256, help="gunicorn request threads")
    ap.add_argument("--stt", choices=["local", "relay"], default="local")
    ap.add_argument("--auth-timeout", type=float, default=0.0,
                    help="server's live_auth_timeout_s and live_idle_s (default: the product "
                    "defaults, 5 s / 30 s, so the attacker reconnects all the time; a long one "
                    "makes the idle sockets stay open instead)")
    args = ap.parse_args(argv)

    fds = raise_fd_limit(args.idle_sockets * 2 + 1024)
    workdir = Path(tempfile.mkdtemp(prefix="salescoach-bench-load-"))
    stereo, timeline = build_call(BENCH_CALL, gap_ms=900, lead_ms=500, tail_ms=1500)
    env, token = prepare(workdir)
    env.update({"SALESCOACH_HUBSPOT_CLIENT_ID": "bench-hubspot",
                "SALESCOACH_HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET})
    if args.auth_timeout:
        env.update({"SALESCOACH_LIVE_AUTH_TIMEOUT_S": str(args.auth_timeout),
                    "SALESCOACH_LIVE_IDLE_S": str(max(30.0, args.auth_timeout))})
    dev: DevServer | None = None
    if args.stt == "relay":
        script = workdir / "bench_call.json"
        script.write_text(json.dumps({"turns": [
            {"speaker": t.speaker, "text": t.text, "start_ms": t.start_ms,
             "end_ms": last_voice_ms(stereo[:, 0 if t.speaker == "rep" else 1], t.start_ms,
                                     t.end_ms)} for t in timeline]}))
        dev = DevServer(workdir, script)
        env.update({"SALESCOACH_STT_ENGINE": "assemblyai",
                    "SALESCOACH_ASSEMBLYAI_API_KEY": "benchkey",
                    "SALESCOACH_ASSEMBLYAI_BASE_URL": f"http://127.0.0.1:{dev.port}",
                    "SALESCOACH_ASSEMBLYAI_STREAMING_HOST": f"ws://127.0.0.1:{dev.ws_port}"})
    server = Server(workdir, env, threads=args.threads, log_name="load-server.log")
    out: dict[str, Any] = {"bench": "load", "minutes": args.minutes,
                           "idle_sockets": args.idle_sockets, "calls": args.calls,
                           "stt": args.stt, "auth_timeout_s": args.auth_timeout or 5.0,
                           "cores": os.cpu_count(), "fd_limit": fds}
    try:
        public = f"http://127.0.0.1:{server.port}"
        # HubSpot signs the app's public URL (the server's default public_base_url here)
        env_public = env.get("SALESCOACH_PUBLIC_BASE_URL", "http://127.0.0.1:5000")
        warm(server, token, stereo, timeline)
        tally = Tally()
        server_cpu0 = cpu_seconds(server.worker_pid)
        started = time.monotonic()
        deadline = started + args.minutes * 60
        ctx = multiprocessing.get_context("fork")
        queue: Any = ctx.Queue()
        procs = [ctx.Process(target=prober_process, args=(public, deadline, queue)),
                 ctx.Process(target=attacker_process,
                             args=(f"ws://127.0.0.1:{server.port}", args.idle_sockets,
                                   deadline, queue))]
        for p in procs:
            p.start()
        threads = [threading.Thread(target=fn, args=a, daemon=True) for fn, a in (
            (api_traffic, (public, token, args.api_rps, deadline, tally)),
            (widget_traffic, (public, env_public, args.widget_rpm, deadline, tally)),
            (sampler, (server.worker_pid, deadline, tally)),
        )]
        for t in threads:
            t.start()
        asyncio.run(run_calls(server.url(token), args.calls, stereo, deadline, tally))
        for t in threads:
            t.join(timeout=30)
        for _ in procs:
            part = queue.get(timeout=120)
            if "attack" in part:
                tally.attack.update(part["attack"])
                tally.open_samples = part["open_samples"]
                out["attacker_cpu_pct"] = round(part["cpu_s"] / out_seconds(started) * 100, 1)
            else:
                tally.healthz_ms = part["healthz_ms"]
                tally.requests["healthz"] = len(part["healthz_ms"])
                for kind, n in part["errors"].items():
                    tally.errors[kind] += n
                tally.error_examples += part["examples"]
        for p in procs:
            p.join(timeout=30)
        out["server_cpu_pct"] = round((cpu_seconds(server.worker_pid) - server_cpu0)
                                      / out_seconds(started) * 100, 1)
        out["seconds"] = round(time.monotonic() - started, 1)
    finally:
        server.stop()
        if dev is not None:
            dev.stop()

    # RSS: the first sample once the load is up (a quarter into the run, at least 30 s: the
    # engines' working memory grows with the load first) against the mean of the last 5.
    up_at = max(30.0, args.minutes * 60 * 0.25)
    loaded = [mb for t, mb in tally.rss if t >= up_at] or [mb for _, mb in tally.rss]
    rss_start = loaded[0] if loaded else 0.0
    rss_end = statistics.fmean(loaded[-5:]) if loaded else 0.0
    opened = tally.open_samples[len(tally.open_samples) // 10:] or [0]
    out.update({
        "errors": sum(tally.errors.values()), "errors_by_kind": dict(tally.errors),
        "error_examples": tally.error_examples, "requests": dict(tally.requests),
        "calls_ok": tally.calls_ok,
        "healthz_p50_ms": _r(pctl(tally.healthz_ms, 50)),
        "healthz_p99_ms": _r(pctl(tally.healthz_ms, 99)),
        "healthz_max_ms": _r(max(tally.healthz_ms) if tally.healthz_ms else None),
        "audio_to_nudge_p50_ms": _r(pctl(tally.a2n_ms, 50)),
        "audio_to_nudge_p95_ms": _r(pctl(tally.a2n_ms, 95)), "nudges": len(tally.a2n_ms),
        "idle_sockets_open_min": min(opened), "idle_sockets_open_mean": round(
            statistics.fmean(opened), 1), "attacker": dict(tally.attack),
        "attacker_handshakes_per_s": round(tally.attack["opened"] / max(1.0, out["seconds"]),
                                           1),
        "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_end, 1),
        "rss_mb_every_30s": [round(mb) for t, mb in tally.rss[::15]],
        "rss_growth_pct": round((rss_end - rss_start) / rss_start * 100, 2) if rss_start else None,
    })
    out["targets_met"] = bool(out["errors"] == 0 and (out["healthz_p99_ms"] or 1e9) <= 100
                              and (out["rss_growth_pct"] or 0) <= 5)
    print(json.dumps(out))
    return 0


def out_seconds(started: float) -> float:
    return max(1.0, time.monotonic() - started)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


if __name__ == "__main__":
    raise SystemExit(main())
