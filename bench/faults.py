"""Exactly-once under faults: kill -9 the worker mid write-back (the CRM sandbox answering
429s and 5xx), or mid transcription / analysis, restart it, and count activities per call.

    .venv/bin/python bench/faults.py [--calls 24] [--kills 4] [--broker redis://…]
    .venv/bin/python bench/faults.py --kill-during transcription [--takeover other|same]
    .venv/bin/python bench/faults.py --kill-during analysis

Last line: one JSON object with ``calls``, ``activities``, ``duplicates``, ``lost`` (targets
0 and 0), ``kills``, the faults injected and the time taken; with ``--kill-during`` also
``seconds_to_done`` from the kill to the recording's CRM activity (target ≤ 90 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LINES = [("rep", "Thanks for making time today. What is slowing your team down this quarter?"),
         ("customer", "Deals stall after the demo, and honestly the price looks too high."),
         ("rep", "I understand. What budget did you plan for this? I can send options."),
         ("customer", "Around twenty thousand. Send me a proposal by Friday."),
         ("rep", "Will do. Can we book a call next Tuesday to go through it together?"),
         ("customer", "Yes, Tuesday works.")]


class Bench:
    """One benchmark environment; ``close()`` stops everything it started."""

    def __init__(self, *, broker_url: str = "", embeddings: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="salescoach-bench-"))
        self.env = {**os.environ, "SALESCOACH_INSTANCE_PATH": str(self.dir),
                    "SALESCOACH_SECRET_KEY": "bench-secret", "SALESCOACH_DEMO": "true",
                    "SALESCOACH_EMBEDDINGS": "true" if embeddings else "false",
                    "SALESCOACH_ENV": "development"}
        if broker_url:
            self.env["SALESCOACH_BROKER_URL"] = broker_url
        for key, value in self.env.items():
            if key.startswith("SALESCOACH_"):
                os.environ[key] = value
        from plugin import migrate
        from plugin.app import create_app
        from plugin.settings import load_settings

        self.settings = load_settings()
        migrate.upgrade(self.settings.database_url)
        self.app = create_app(settings=self.settings)
        self.worker: subprocess.Popen[bytes] | None = None
        self.sandbox: Any = None
        self.log = open(self.dir / "worker.log", "ab")  # noqa: SIM115 - closed in close()

    # -- CRM sandbox ----------------------------------------------------------------------
    def start_sandbox(self) -> Any:
        from plugin.sandbox.server import start_sandbox

        self.sandbox = start_sandbox(self.settings.instance_path)
        return self.sandbox

    def connect(self, tenant_id: str, kind: str) -> None:
        from plugin.crm import save_connection
        from plugin.crm.tokens import OAuthTokens
        from plugin.db import db
        from plugin.sandbox.config import sandbox_credentials
        from plugin.tenancy import ensure_tenant, ensure_user

        creds = sandbox_credentials(self.settings)
        client = creds.sf_client_id if kind == "salesforce" else creds.hs_client_id
        minted = self.sandbox.state.store.issue_tokens(kind, client)
        with db.session_scope() as s:
            ensure_tenant(s, tenant_id, kind)
            ensure_user(s, tenant_id, "bench-rep", name="Bench Rep")
            save_connection(s, self.settings, tenant_id, kind, OAuthTokens(
                access_token=minted["access_token"], refresh_token=minted["refresh_token"],
                instance_url=self.sandbox.base_url,
                expires_at=datetime.now(UTC) + timedelta(hours=8)))

    def person(self, kind: str) -> str:
        from plugin.sandbox.seed_data import directory

        people = directory(self.sandbox.state.ident["sf_org_id"])
        p = next(p for p in people if p["sf_type"] == "Contact")
        return str(p["sf_id"] if kind == "salesforce" else p["hs_id"])

    def activities(self) -> list[dict[str, Any]]:
        out = []
        for rec in self.sandbox.state.store.created_activities():
            out.append({"id": rec["id"], "obj": rec["obj"], "text": json.dumps(rec["data"])})
        return out

    # -- calls ----------------------------------------------------------------------------
    def make_calls(self, n: int, tenant_id: str, record_id: str,
                   record_type: str) -> list[tuple[str, int]]:
        """``n`` finished calls, each analysed into a report with its outbox row."""
        from plugin.db import db
        from plugin.models import Call, Turn
        from plugin.pipeline import stages

        out = []
        with self.app.app_context():
            for i in range(n):
                with db.session_scope() as s:
                    call = Call(tenant_id=tenant_id, record_id=record_id, record_type=record_type,
                                source="panel", status="ended", title=f"Bench call {i + 1}")
                    s.add(call)
                    s.flush()
                    for seq, (speaker, text) in enumerate(LINES):
                        s.add(Turn(tenant_id=tenant_id, call_id=call.id, seq=seq, speaker=speaker,
                                   text=text, start_ms=seq * 6000, end_ms=seq * 6000 + 5000))
                    call_id = call.id
                version = stages.analyse(call_id, self.settings)
                assert version is not None
                item_id = stages.queue_writeback(call_id, version, self.settings)
                assert item_id is not None
                out.append((call_id, item_id))
        return out

    def enqueue_all(self, items: list[int]) -> None:
        from plugin.pipeline.dispatch import DELIVER, enqueue

        with self.app.app_context():
            for item_id in items:
                enqueue(DELIVER, item_id)

    def outbox_status(self) -> dict[str, int]:
        from sqlalchemy import func, select

        from plugin.db import db
        from plugin.models import OutboxItem

        with db.session_scope() as s:
            return dict(s.execute(select(OutboxItem.status, func.count())
                                  .group_by(OutboxItem.status)).all())

    # -- worker subprocess ----------------------------------------------------------------
    def start_worker(self, concurrency: int = 2, beat: bool = True,
                     node: str = "bench") -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "plugin.cli", "worker", "--pool", "threads",
                "-c", str(concurrency), "-n", f"{node}@%h", "--loglevel", "WARNING",
                "--beat" if beat else "--no-beat"]
        self.worker = subprocess.Popen(argv, env=self.env, cwd=str(ROOT), stdout=self.log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        return self.worker

    def kill_worker(self) -> None:
        """kill -9 the worker and everything it started (its process group)."""
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()
        self.worker = None

    def stop_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_worker()
        self.worker = None

    def close(self) -> None:
        self.stop_worker()
        if self.sandbox is not None:
            self.sandbox.stop()
        self.log.close()


def wait_until(check: Any, timeout: float, every: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


# -- the benchmark ---------------------------------------------------------------------------

TENANT = "sf:00DBENCHFAULTS1"


def inject_faults(bench: Bench, stop: threading.Event, rng: random.Random,
                  injected: Counter[str]) -> None:
    """Keep one fault pending on the write path: slow writes (kill window), 429s or 503s."""
    from plugin.sandbox.faults import parse_fault

    faults = bench.sandbox.state.faults
    while not stop.is_set():
        if not faults.active():
            roll = rng.random()
            if roll < 0.4:
                spec = {"path": "/services/data", "method": "PATCH", "delay_ms": 1500, "count": 2}
                injected["slow"] += 1
            elif roll < 0.7:
                spec = {"path": "/services/data", "status": 429, "retry_after": 1,
                        "count": rng.randint(1, 5)}
                injected["429"] += 1
            else:
                spec = {"path": "/services/data", "status": rng.choice([500, 502, 503]),
                        "count": rng.randint(1, 5)}
                injected["5xx"] += 1
            faults.add(parse_fault(spec))
        time.sleep(0.3)


def sending(bench: Bench) -> bool:
    return bench.outbox_status().get("sending", 0) > 0


def lease_owner(key: str) -> str:
    from plugin.db import db
    from plugin.models import TaskLock

    with db.session_scope() as s:
        row = s.get(TaskLock, key)
        return row.owner if row is not None else ""


def kill_during(bench: Bench, stage: str, takeover: str, timeout: float) -> dict[str, Any]:
    """Upload the demo call for a CRM contact, kill -9 the worker while it holds the lease of
    ``stage`` (transcription or analysis), start a worker (``same`` node name: a restarted
    pod; ``other``: another pod, so the lease must lapse), time the kill to the activity."""
    from plugin.db import db
    from plugin.models import Recording
    from plugin.pipeline import submit_recording
    from plugin.pipeline.recordings import store_upload

    bench.connect(TENANT, "salesforce")
    record_id = bench.person("salesforce")
    wav = ROOT / "plugin" / "demo_calls" / "price_objection.wav"
    with bench.app.app_context(), wav.open("rb") as fh:
        stored = store_upload(bench.settings, tenant_id=TENANT, user_id=None, filename=wav.name,
                              stream=fh, record_id=record_id, record_type="Contact")
    key = (f"transcribe:{stored.recording_id}" if stage == "transcription"
           else f"analyse:{stored.call_id}")
    bench.start_worker(node="first")
    with bench.app.app_context():
        submit_recording(stored.recording_id)
    t_submit = time.monotonic()
    def holding() -> bool:
        if not lease_owner(key).startswith("first@"):
            return False
        if stage != "transcription":
            return True
        with db.session_scope() as s:
            rec = s.get(Recording, stored.recording_id)
            return rec is not None and rec.stage == "transcribing"

    if not wait_until(holding, timeout=300, every=0.01):
        raise SystemExit(f"the worker never took {key}")
    assert bench.worker is not None
    os.killpg(bench.worker.pid, signal.SIGSTOP)  # freeze it where it is, then kill it
    bench.kill_worker()
    t_kill = time.monotonic()
    with db.session_scope() as s:
        rec = s.get(Recording, stored.recording_id)
        stage_at_kill = rec.stage if rec is not None else ""
    bench.start_worker(node="first" if takeover == "same" else "second")

    def delivered() -> bool:
        return any(stored.call_id in a["text"] for a in bench.activities())

    finished = wait_until(delivered, timeout=timeout, every=0.25)
    t_done = time.monotonic()
    wait_until(lambda: bench.outbox_status().get("sending", 0) == 0, timeout=30)
    acts = [a for a in bench.activities() if stored.call_id in a["text"]]
    with db.session_scope() as s:
        rec = s.get(Recording, stored.recording_id)
        final = f"{rec.status}/{rec.stage}" if rec is not None else "missing"
    return {"bench": "faults", "kill_during": stage, "takeover": takeover,
            "stage_at_kill": stage_at_kill, "calls": 1, "activities": len(acts),
            "duplicates": max(0, len(acts) - 1), "lost": 0 if acts else 1, "kills": 1,
            "finished": finished, "recording": final,
            "seconds_to_kill": round(t_kill - t_submit, 1),
            "seconds_to_done": round(t_done - t_kill, 1) if finished else None,
            "broker": bench.settings.broker_url.split("://")[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kill-during", choices=["writeback", "transcription", "analysis"],
                    default="writeback")
    ap.add_argument("--takeover", choices=["other", "same"], default="other",
                    help="with --kill-during transcription|analysis: the replacement worker's "
                         "node name is another pod's (the lease must lapse) or the same")
    ap.add_argument("--calls", type=int, default=24)
    ap.add_argument("--kills", type=int, default=4)
    ap.add_argument("--broker", default="", help="broker URL [default: embedded filesystem]")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    bench = Bench(broker_url=args.broker)
    if args.kill_during != "writeback":
        try:
            bench.start_sandbox()
            result = kill_during(bench, args.kill_during, args.takeover, args.timeout)
        finally:
            bench.close()
        print(json.dumps(result))
        return
    try:
        bench.start_sandbox()
        bench.connect(TENANT, "salesforce")
        record_id = bench.person("salesforce")
        calls = bench.make_calls(args.calls, TENANT, record_id, "Contact")
        t0 = time.monotonic()
        bench.enqueue_all([item for _call, item in calls])
        injected: Counter[str] = Counter()
        stop = threading.Event()
        injector = threading.Thread(target=inject_faults, args=(bench, stop, rng, injected),
                                    daemon=True)
        injector.start()
        bench.start_worker()
        kills = 0
        for k in range(args.kills):
            # spread the kills over the run: wait for progress and a write in flight, let it
            # get going, then kill -9 mid-request
            goal = (k + 1) * len(calls) // (args.kills + 2)
            if not wait_until(lambda g=goal: bench.outbox_status().get("done", 0) >= g
                              and sending(bench), timeout=300, every=0.05):
                break
            time.sleep(rng.uniform(0.1, 0.9))
            bench.kill_worker()
            kills += 1
            print(f"kill -9 #{kills}: outbox {bench.outbox_status()}", flush=True)
            time.sleep(1.0)
            bench.start_worker()
        finished = wait_until(lambda: set(bench.outbox_status()) <= {"done", "failed"},
                              timeout=args.timeout, every=0.5)
        stop.set()
        elapsed = time.monotonic() - t0
        status = bench.outbox_status()
        acts = bench.activities()
        per_call = {call_id: sum(1 for a in acts if call_id in a["text"]) for call_id, _ in calls}
        result = {
            "bench": "faults", "calls": len(calls), "activities": sum(per_call.values()),
            "duplicates": sum(max(0, n - 1) for n in per_call.values()),
            "lost": sum(1 for n in per_call.values() if n == 0), "kills": kills,
            "faults_injected": dict(injected), "outbox": status, "finished": finished,
            "broker": args.broker or "filesystem", "seconds": round(elapsed, 1),
            "requests_faulted": sum(1 for r in bench.sandbox.state.faults.requests()
                                    if r.get("fault")),
        }
    finally:
        bench.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
