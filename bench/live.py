"""Live-call benchmark: latency, capacity (local STT and cloud-mode relay), memory, WER.

Runs everything on loopback and stops by itself; the last line printed is one JSON object.

- ``audio_to_nudge_p95_ms``: last audio sample of a customer turn sent → its nudge received
  (client clock), local STT, calls streamed at real speed by client sockets.
- ``final_to_nudge_p99_ms``: the turn's ``final`` event received → its nudge received.
- ``calls_local``: most simultaneous real-time calls one server (gunicorn gthread, one
  process) held with local Whisper while p95 audio→nudge stayed ≤ 1000 ms and every call got
  its nudges. Calls are staggered; each channel is silent about half the time.
- ``calls_relay``: the same with speech on the local AssemblyAI-protocol server
  (timed-script backend) in cloud mode (``SALESCOACH_STT_ENGINE=assemblyai``).
- ``mem_per_call_mb_*``: server RSS growth per call: the peak RSS while holding
  ``calls_*`` calls (the largest level within target), less the RSS before the ramp's first
  level (after warm-up), over those calls. An upper bound: it includes the engines' working
  memory, which grows with the load rather than with each call.
- ``wer_clean``: the live (streaming) local engine on the shipped demo calls.
- ``--kinds stereo,mono,phone,phone_noise``: only the latency run, once per audio kind (the
  call spoken by two distinct voices and rendered as in ``bench/stt.py``; one-channel kinds
  are sent as one ``mixed`` channel, telephone audio upsampled 8 → 16 kHz as the Twilio
  source does):
  audio→nudge p50/p95 and speaker attribution of the finals (words of each final on the
  side of the scripted line its middle falls in).

Usage: ``python bench/live.py [--quick] [--local-levels 1,2,4] [--relay-levels 25,50]``,
``python bench/live.py --kinds stereo,mono,phone --latency-calls 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests
from websockets.asyncio.client import connect as aconnect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin.live.scripted import Line, Timed, build_call  # noqa: E402

BENCH_CALL = (
    Line("rep", "Hi, this is Dana from Acme. Thanks for making the time. "
                "What are your goals for this quarter?"),
    Line("customer", "We want to keep more of our customers. We lose a few accounts every month."),
    Line("rep", "What have you tried so far to keep those accounts, and how did that go?"),
    Line("customer", "Honestly, the price is way too expensive for our budget this year."),
    Line("rep", "I understand. What budget did you have in mind for a project like this?"),
    Line("customer", "Maybe ten thousand a year. We are also looking at Gainsight right now."),
    Line("rep", "That makes sense. What do you like most about Gainsight so far?"),
    Line("customer", "Their dashboards look good, and the team already knows them."),
)
FRAME_MS = 100
TARGET_P95_MS = 1000.0


def pctl(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.array(values), q))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# ------------------------------------------------------------------------------ server
class Server:
    """``plugin.wsgi:app`` under gunicorn gthread (one process), like ``salescoach serve``."""

    def __init__(self, workdir: Path, env: dict[str, str], threads: int, log_name: str) -> None:
        self.port = free_port()
        self.log = open(workdir / log_name, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1",
             "--threads", str(threads), "--bind", f"127.0.0.1:{self.port}", "--timeout", "300",
             "--graceful-timeout", "5", "plugin.wsgi:app"],
            cwd=ROOT, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log.name}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            raise RuntimeError("server did not start in 180 s")
        self.worker_pid = self._worker_pid()

    def _worker_pid(self) -> int:
        try:
            out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                                 text=True, timeout=10).stdout.split()
            return int(out[0]) if out else self.proc.pid
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return self.proc.pid

    def url(self, token: str) -> str:
        """The call target: the socket URL with the session token as a fragment (the
        client sends it in the first message; it never travels in the URL)."""
        return f"ws://127.0.0.1:{self.port}/ws/calls#{token}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


class DevServer:
    """The local AssemblyAI-protocol server with the timed-script backend."""

    def __init__(self, workdir: Path, script: Path) -> None:
        self.port, self.ws_port = free_port(), free_port()
        self.log = open(workdir / "assemblyai.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "plugin.devservers.assemblyai", "--port", str(self.port),
             "--ws-port", str(self.ws_port), "--backend", "script", "--script", str(script),
             "--api-key", "benchkey"], cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.ws_port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError("AssemblyAI dev server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


# ------------------------------------------------------------------------------ client
@dataclass
class CallResult:
    ok: bool = False
    error: str = ""
    audio_to_nudge_ms: list[float] = field(default_factory=list)
    final_to_nudge_ms: list[float] = field(default_factory=list)
    customer_nudges: int = 0
    finals: int = 0
    final_events: list[dict[str, Any]] = field(default_factory=list)


def last_voice_ms(pcm: np.ndarray, start_ms: int, end_ms: int) -> int:
    """End (ms) of the last 10 ms window above -40 dBFS within [start_ms, end_ms]."""
    a, b = max(0, start_ms * 16), min(pcm.size, end_ms * 16)
    x = pcm[a:b].astype(np.float32) / 32768.0
    n = x.size // 160
    if n == 0:
        return end_ms
    rms = np.sqrt(np.mean(x[: n * 160].reshape(n, 160) ** 2, axis=1))
    voiced = np.nonzero(rms > 0.01)[0]
    return start_ms + (int(voiced[-1]) + 1) * 10 if voiced.size else end_ms


def call_frames(stereo: np.ndarray) -> list[bytes]:
    """The panel's binary frames of a call, in send order (each channel per 100 ms); a 1-D
    array is one channel."""
    audio = stereo if stereo.ndim == 2 else stereo[:, None]
    step = 16 * FRAME_MS
    return [bytes([ch]) + np.ascontiguousarray(audio[pos:pos + step, ch]).astype("<i2").tobytes()
            for pos in range(0, audio.shape[0], step) for ch in range(audio.shape[1])]


def run_call(url: str, stereo: np.ndarray, timeline: list[Timed], delay_s: float,
             speed: float = 1.0) -> CallResult:
    """One call on its own event loop (see ``run_calls``)."""
    return asyncio.run(_run_calls([(url, delay_s)], stereo, call_frames(stereo), speed))[0]


def run_calls(calls: list[tuple[str, float]], stereo: np.ndarray,
              speed: float = 1.0) -> list[CallResult]:
    """Stream calls (url, start delay) at ``speed`` × real time from one asyncio loop: a
    load generator with a thread per socket would take CPU the server needs."""
    return asyncio.run(_run_calls(calls, stereo, call_frames(stereo), speed))


async def _run_calls(calls: list[tuple[str, float]], stereo: np.ndarray, frames: list[bytes],
                     speed: float) -> list[CallResult]:
    return list(await asyncio.gather(*(_run_call(url, stereo, frames, delay, speed)
                                       for url, delay in calls)))


async def _run_call(url: str, stereo: np.ndarray, frames: list[bytes], delay_s: float,
                    speed: float) -> CallResult:
    """Stream one call and time its nudges (client clock); a 1-D ``stereo`` is sent as one
    ``mixed`` channel."""
    res = CallResult()
    n_ch = 2 if stereo.ndim == 2 else 1
    await asyncio.sleep(delay_s)
    events: list[tuple[float, dict[str, Any]]] = []
    t0 = 0.0
    url, _, token = url.partition("#")
    try:
        async with aconnect(url, open_timeout=30, close_timeout=5, max_size=2**22,
                            compression=None) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await ws.send(json.dumps({"type": "start", "sample_rate": 16000,
                                      "channels": ["rep", "customer"] if n_ch == 2
                                      else ["mixed"]}))
            ready = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if ready.get("type") != "ready":
                res.error = str(ready)
                return res

            async def reader() -> None:
                async for msg in ws:
                    ev = json.loads(msg)
                    events.append((time.monotonic(), ev))
                    if ev.get("type") == "ended":
                        return

            read = asyncio.create_task(reader())
            t0 = time.monotonic()
            for i in range(0, len(frames), n_ch):
                for frame in frames[i:i + n_ch]:
                    await ws.send(frame)
                pause = t0 + (i // n_ch + 1) * FRAME_MS / 1000 / speed - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
            await asyncio.sleep(2.0)
            await ws.send(json.dumps({"type": "stop"}))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(read, 120)
    except Exception as exc:  # noqa: BLE001 - a failed call counts as a failure
        res.error = f"{type(exc).__name__}: {exc}"
        return res
    finals = {ev["seq"]: (t, ev) for t, ev in events if ev.get("type") == "final"}
    res.finals = len(finals)
    res.final_events = [ev for _t, ev in finals.values()]
    for t, ev in events:
        if ev.get("type") != "nudge" or ev.get("seq") not in finals:
            continue
        t_final, final = finals[ev["seq"]]
        if final["speaker"] != "customer":
            continue
        # The turn's last voiced sample, from the audio itself (a scripted line may be split
        # into several turns at a pause, so the script's line end is not the turn's end).
        customer_audio = stereo[:, 1] if n_ch == 2 else stereo
        end_ms = last_voice_ms(customer_audio, final["start_ms"], final["end_ms"] + 300)
        last_sample_sent = t0 + (end_ms // FRAME_MS) * FRAME_MS / 1000 / speed
        res.audio_to_nudge_ms.append((t - last_sample_sent) * 1000)
        res.final_to_nudge_ms.append((t - t_final) * 1000)
        res.customer_nudges += 1
    res.ok = any(ev.get("type") == "ended" for _, ev in events) and res.customer_nudges > 0
    if not res.ok and not res.error:
        res.error = f"no customer nudge/ended (events: {len(events)})"
    return res


def run_level(server: Server, token: str, n: int, stereo: np.ndarray, timeline: list[Timed],
              stagger_s: float = 5.0) -> dict[str, Any]:
    rss: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss.append(rss_mb(server.worker_pid))
            stop.wait(1.0)

    idle = rss_mb(server.worker_pid)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rnd = random.Random(n)
    results = run_calls([(server.url(token), rnd.uniform(0, stagger_s)) for _ in range(n)],
                        stereo)
    stop.set()
    a2n = [v for r in results for v in r.audio_to_nudge_ms]
    f2n = [v for r in results for v in r.final_to_nudge_ms]
    p95 = pctl(a2n, 95)
    failed = [r.error for r in results if not r.ok]
    return {"calls": n, "ok_calls": n - len(failed), "errors": failed[:3],
            "finals": [ev for r in results for ev in r.final_events],
            "audio_to_nudge_p50_ms": pctl(a2n, 50), "audio_to_nudge_p95_ms": p95,
            "final_to_nudge_p99_ms": pctl(f2n, 99), "samples": len(a2n),
            "passed": not failed and p95 is not None and p95 <= TARGET_P95_MS,
            "rss_idle_mb": round(idle, 1), "rss_peak_mb": round(max(rss or [idle]), 1),
            "a2n": a2n, "f2n": f2n}


SERVED_P95_MS = 5000.0  # the ramp goes on while every call is served within this


def ramp(server: Server, token: str, levels: list[int], stereo: np.ndarray,
         timeline: list[Timed], label: str) -> tuple[int, int, list[dict[str, Any]]]:
    """(largest level meeting the 1 s p95 target, largest level serving every call with
    p95 ≤ 5 s, the runs). Stops at the first level that serves not every call."""
    best, served, runs = 0, 0, []
    for n in levels:
        r = run_level(server, token, n, stereo, timeline)
        runs.append(r)
        print(f"[{label}] {n} calls: ok {r['ok_calls']}/{n}, p95 audio→nudge "
              f"{r['audio_to_nudge_p95_ms']}, rss {r['rss_idle_mb']}→{r['rss_peak_mb']} MB"
              + (f", errors {r['errors']}" if r["errors"] else ""), flush=True)
        p95 = r["audio_to_nudge_p95_ms"]
        if r["ok_calls"] < n or p95 is None or p95 > SERVED_P95_MS:
            break
        served = n
        if all(x["passed"] for x in runs):  # every level so far met the target
            best = n
    return best, served, runs


# ------------------------------------------------------------------------------ setup
def prepare(workdir: Path) -> tuple[dict[str, str], str]:
    """A migrated SQLite database with a tenant and rep; the env and a session token."""
    from plugin import migrate
    from plugin.db import db
    from plugin.security import Identity, SessionSigner
    from plugin.tenancy import ensure_tenant, ensure_user

    url = f"sqlite:///{workdir / 'bench.db'}"
    migrate.upgrade(url)
    db.configure(url)
    with db.session_scope() as s:
        ensure_tenant(s, "demo", "demo", "Demo Org")
        uid = ensure_user(s, "demo", "bench-rep", "Bench Rep").id
    secret = "bench-secret-key"
    env = {"SALESCOACH_INSTANCE_PATH": str(workdir / "instance"),
           "SALESCOACH_DATABASE_URL": url, "SALESCOACH_SECRET_KEY": secret,
           "SALESCOACH_ENV": "development", "SALESCOACH_DEMO": "false"}
    token = SessionSigner(secret, 8 * 3600).issue(Identity("demo", uid, "bench-rep", "Bench Rep"))
    return env, token


def warm(server: Server, token: str, stereo: np.ndarray, timeline: list[Timed]) -> None:
    """One call at 8x speed so every model is loaded before measuring."""
    run_call(server.url(token), stereo[: 16000 * 12], timeline, 0.0, speed=8.0)


def wer_clean() -> dict[str, Any]:
    """The live streaming path of the local engine on the demo calls (text per channel)."""
    from plugin.demo_calls import demo_call_audio, demo_call_names, demo_call_script
    from plugin.live.audio import read_wav_channels
    from plugin.settings import load_settings
    from plugin.speech import get_stt, normalize, wer

    stt = get_stt(load_settings({"stt_engine": "local"}))
    refs, hyps = [], []
    for name in demo_call_names():
        chans, _ = read_wav_channels(demo_call_audio(name))
        script = demo_call_script(name)
        for idx, role in enumerate(("rep", "customer")):
            stream = stt.open_stream(16000)
            events = []
            pcm = chans[idx]
            for pos in range(0, pcm.size, 1600):
                events += stream.push(pcm[pos:pos + 1600].astype("<i2").tobytes())
            events += stream.finish()
            hyps.append(" ".join(e.text for e in events if e.kind == "final"))
            refs.append(" ".join(t["text"] for t in script["turns"] if t["speaker"] == role))
    words = sum(len(normalize(r)) for r in refs)
    errors = sum(wer(r, h) * len(normalize(r)) for r, h in zip(refs, hyps, strict=True))
    return {"wer_clean": round(errors / max(1, words), 4), "wer_words": words,
            "wer_calls": len(refs) // 2}


def capacity(server: Server, token: str, levels: list[int], stereo: np.ndarray,
             timeline: list[Timed], label: str) -> dict[str, Any]:
    """The ramp's figures for one mode: calls held, calls served, levels, memory per call."""
    base = rss_mb(server.worker_pid)
    best, served, runs = ramp(server, token, levels, stereo, timeline, label)
    held = next((r for r in runs if r["calls"] == best), max(runs, key=lambda r: r["calls"]))
    return {f"calls_{label}": best, f"calls_{label}_served_p95_5s": served,
            f"calls_{label}_levels": [_brief(r) for r in runs],
            f"mem_per_call_mb_{label}": round((held["rss_peak_mb"] - base) / held["calls"], 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run: few levels, one pass")
    ap.add_argument("--local-levels", default="", help="comma list of call counts (local STT)")
    ap.add_argument("--relay-levels", default="", help="comma list of call counts (relay)")
    ap.add_argument("--skip-local", action="store_true",
                    help="no local-STT runs (latency, calls_local)")
    ap.add_argument("--skip-relay", action="store_true")
    ap.add_argument("--skip-wer", action="store_true")
    ap.add_argument("--latency-calls", type=int, default=0, help="calls for the latency run")
    ap.add_argument("--kinds", default="", help="latency run only, per audio kind "
                    "(stereo,mono,phone,phone_noise)")
    args = ap.parse_args(argv)
    local_levels = [int(x) for x in args.local_levels.split(",") if x] or (
        [1, 2] if args.quick else [1, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48, 56, 64, 80])
    relay_levels = [int(x) for x in args.relay_levels.split(",") if x] or (
        [10, 25] if args.quick else [25, 50, 75, 100, 125, 150, 200, 250, 300, 400])
    latency_calls = args.latency_calls or (2 if args.quick else 4)

    workdir = Path(tempfile.mkdtemp(prefix="salescoach-bench-live-"))
    stereo, timeline = build_call(BENCH_CALL, gap_ms=900, lead_ms=500, tail_ms=1500)
    script = workdir / "bench_call.json"
    # A turn ends where its voice ends (as a real service's word times say), not where
    # espeak's ~335 ms of trailing silence ends: the dev server endpoints from there.
    script.write_text(json.dumps({"turns": [
        {"speaker": t.speaker, "text": t.text, "start_ms": t.start_ms,
         "end_ms": last_voice_ms(stereo[:, 0 if t.speaker == "rep" else 1], t.start_ms,
                                 t.end_ms)}
        for t in timeline]}))
    env, token = prepare(workdir)
    out: dict[str, Any] = {"bench": "live", "quick": args.quick,
                           "call_seconds": round(stereo.shape[0] / 16000, 1),
                           "cores": os.cpu_count(), "load_avg_start": os.getloadavg()[0]}
    started = time.monotonic()

    if args.kinds:
        out["kinds"] = run_kinds(workdir, env, token, args.kinds.split(","), latency_calls)
        out["seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(out))
        return 0

    if not args.skip_local:
        server = Server(workdir, env, threads=128, log_name="server-local.log")
        try:
            warm(server, token, stereo, timeline)
            lat = run_level(server, token, latency_calls, stereo, timeline)
            out["audio_to_nudge_p95_ms"] = _r(lat["audio_to_nudge_p95_ms"])
            out["audio_to_nudge_p50_ms"] = _r(lat["audio_to_nudge_p50_ms"])
            out["final_to_nudge_p99_ms"] = _r(lat["final_to_nudge_p99_ms"])
            out["latency_samples"] = lat["samples"]
            print(f"[latency] {lat['samples']} samples, p95 audio→nudge "
                  f"{out['audio_to_nudge_p95_ms']} ms, p99 final→nudge "
                  f"{out['final_to_nudge_p99_ms']} ms", flush=True)
            out.update(capacity(server, token, local_levels, stereo, timeline, "local"))
        finally:
            server.stop()

    if not args.skip_relay:
        dev = DevServer(workdir, script)
        relay_env = {**env, "SALESCOACH_STT_ENGINE": "assemblyai",
                     "SALESCOACH_ASSEMBLYAI_API_KEY": "benchkey",
                     "SALESCOACH_ASSEMBLYAI_BASE_URL": f"http://127.0.0.1:{dev.port}",
                     "SALESCOACH_ASSEMBLYAI_STREAMING_HOST": f"ws://127.0.0.1:{dev.ws_port}"}
        server = Server(workdir, relay_env, threads=max(relay_levels) + 32,
                        log_name="server-relay.log")
        try:
            warm(server, token, stereo, timeline)
            out.update(capacity(server, token, relay_levels, stereo, timeline, "relay"))
        finally:
            server.stop()
            dev.stop()

    if not args.skip_wer:
        out.update(wer_clean())
    out["seconds"] = round(time.monotonic() - started, 1)
    out["workdir"] = str(workdir)
    print(json.dumps(out))
    return 0


def attribution(finals: list[dict[str, Any]], timeline: list[Timed]) -> float | None:
    """Share of the finals' words on the right side (a final's words are spread evenly over
    its time; a word counts for the scripted line(s) its middle falls in)."""
    right = total = 0
    for ev in finals:
        words = ev["text"].split()
        if not words:
            continue
        step = (ev["end_ms"] - ev["start_ms"]) / len(words)
        for i in range(len(words)):
            mid = ev["start_ms"] + (i + 0.5) * step
            sides = {t.speaker for t in timeline if t.start_ms - 150 <= mid <= t.end_ms + 150}
            if sides:
                total += 1
                right += ev["speaker"] in sides
    return round(right / total, 4) if total else None


def run_kinds(workdir: Path, env: dict[str, str], token: str, kinds: list[str],
              calls: int) -> dict[str, Any]:
    from plugin.live.audio import Upsampler2x
    from plugin.live.scripted import DISTINCT_VOICES, render

    stereo, timeline = build_call(BENCH_CALL, gap_ms=900, lead_ms=500, tail_ms=1500,
                                  voices=DISTINCT_VOICES)
    out: dict[str, Any] = {}
    server = Server(workdir, env, threads=128, log_name="server-kinds.log")
    try:
        warm(server, token, stereo, timeline)
        for kind in kinds:
            audio, rate = render(stereo, kind)
            if rate != 16000:  # as the Twilio source does (band-limited, not linear)
                audio = Upsampler2x().process(audio)
            lat = run_level(server, token, calls, audio, timeline)
            out[kind] = {"audio_to_nudge_p50_ms": _r(lat["audio_to_nudge_p50_ms"]),
                         "audio_to_nudge_p95_ms": _r(lat["audio_to_nudge_p95_ms"]),
                         "samples": lat["samples"], "ok_calls": lat["ok_calls"],
                         "errors": lat["errors"],
                         "attribution": attribution(lat["finals"], timeline)}
            print(f"[{kind}]", json.dumps(out[kind]), flush=True)
    finally:
        server.stop()
    return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _brief(r: dict[str, Any]) -> dict[str, Any]:
    return {k: (_r(v) if isinstance(v, float) else v) for k, v in r.items()
            if k not in ("a2n", "f2n")}


if __name__ == "__main__":
    raise SystemExit(main())
