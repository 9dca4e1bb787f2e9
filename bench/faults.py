"""Exactly-once write-back under faults: kill -9 the worker mid write-back, restart it, and
let the CRM sandbox answer with 429s and 5xx; count activities per call.

    .venv/bin/python bench/faults.py [--calls 24] [--kills 4] [--broker redis://…]

Last line: one JSON object with ``calls``, ``activities``, ``duplicates``, ``lost`` (targets
0 and 0), ``kills``, the faults injected and the time taken.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections import Counter

from _setup import Bench, wait_until

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=24)
    ap.add_argument("--kills", type=int, default=4)
    ap.add_argument("--broker", default="", help="broker URL [default: embedded filesystem]")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    bench = Bench(broker_url=args.broker)
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
            if not wait_until(lambda g=goal: bench.outbox_status().get("done", 0) >= g  # type: ignore[misc]
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
