"""CRM adapters against the CRM sandbox over TLS: context-read latency (cold and cached) and
write-back under injected faults, checking that retries never duplicate an activity.

Runs in a throw-away instance (own SQLite database and sandbox). Every ``--fault-every``-th
write first meets a 503 (then a 429 with Retry-After 0.2 s on the next one), so the retry path
is exercised. The last line of output is ONE JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from rich.progress import Progress

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin import migrate  # noqa: E402
from plugin.crm import OAuthTokens, adapter_for, save_connection  # noqa: E402
from plugin.crm.cache import CONTEXT_CACHE  # noqa: E402
from plugin.db import db  # noqa: E402
from plugin.providers.crm import CallActivity  # noqa: E402
from plugin.sandbox.server import start_sandbox  # noqa: E402
from plugin.settings import load_settings  # noqa: E402
from plugin.tenancy import ensure_tenant  # noqa: E402

KINDS = ("salesforce", "hubspot")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=30, help="cold context reads per CRM")
    parser.add_argument("--writes", type=int, default=40, help="call write-backs per CRM")
    parser.add_argument("--fault-every", type=int, default=5,
                        help="inject a 503 (or 429) before every Nth write (0: none)")
    args = parser.parse_args()

    instance = Path(tempfile.mkdtemp(prefix="salescoach-bench-crm-"))
    settings = load_settings({"instance_path": instance, "env": "test"})
    migrate.upgrade(settings.database_url)
    db.configure(settings.database_url)
    handle = start_sandbox(instance)
    admin = handle.base_url + "/_sandbox"

    def post(path: str, body: Any) -> Any:
        return requests.post(admin + path, json=body, verify=handle.ca_path, timeout=10).json()

    people = requests.get(admin + "/directory", verify=handle.ca_path, timeout=10).json()["people"]
    results: dict[str, Any] = {}
    try:
        with Progress() as progress:
            for kind in KINDS:
                minted = post("/tokens", {"vendor": kind})
                tenant = f"bench-{kind}"
                with db.session_scope() as s:
                    ensure_tenant(s, tenant, kind)
                    save_connection(s, settings, tenant, kind, OAuthTokens(
                        minted["access_token"], minted["refresh_token"], handle.base_url,
                        datetime.now(UTC) + timedelta(seconds=int(minted["expires_in"]))))
                with db.session_scope() as s:
                    adapter = adapter_for(s, tenant, settings)
                assert adapter is not None
                ids = [(p["sf_id"], p["sf_type"]) if kind == "salesforce" else
                       (p["hs_id"], "contact") for p in people]

                cold: list[float] = []
                task = progress.add_task(f"{kind} context reads", total=args.reads)
                for i in range(args.reads):
                    CONTEXT_CACHE.clear()
                    rid, rtype = ids[i % len(ids)]
                    t0 = time.perf_counter()
                    adapter.customer_context(rid, rtype)
                    cold.append((time.perf_counter() - t0) * 1000)
                    progress.advance(task)
                adapter.customer_context(*ids[0])  # warm the cache for this record
                t0 = time.perf_counter()
                for _ in range(1000):
                    adapter.customer_context(*ids[0])
                cached_ms = (time.perf_counter() - t0)  # per read: seconds/1000 = ms

                writes: list[float] = []
                faults = 0
                task = progress.add_task(f"{kind} write-backs", total=args.writes)
                for i in range(args.writes):
                    if args.fault_every and i % args.fault_every == 0:
                        status = 503 if (i // args.fault_every) % 2 == 0 else 429
                        prefix = "/services/data" if kind == "salesforce" else "/crm/v3"
                        post("/faults", {"path": prefix, "status": status, "count": 1,
                                         "retry_after": 0.2 if status == 429 else None})
                        faults += 1
                    rid, rtype = ids[i % len(ids)]
                    act = CallActivity(record_id=rid, record_type=rtype,
                                       subject=f"Bench call {i}", body_text="bench",
                                       body_html="<p>bench</p>",
                                       started_at=datetime.now(UTC), duration_s=60 + i)
                    t0 = time.perf_counter()
                    first = adapter.write_call_activity(act, f"bench:{kind}:{i}")
                    writes.append((time.perf_counter() - t0) * 1000)
                    again = adapter.write_call_activity(act, f"bench:{kind}:{i}")  # a retry
                    assert again == first, (again, first)
                    progress.advance(task)
                written = requests.get(admin + "/activities", params={"crm": kind},
                                       verify=handle.ca_path, timeout=10).json()["count"]
                results[kind] = {
                    "context_cold_ms_p50": pct(cold, 0.5), "context_cold_ms_p95": pct(cold, 0.95),
                    "context_cached_ms": round(cached_ms, 4),
                    "write_ms_p50": pct(writes, 0.5), "write_ms_p95": pct(writes, 0.95),
                    "write_ms_mean": round(statistics.mean(writes), 2),
                    "writes": args.writes, "faults_injected": faults,
                    "activities_created": written, "duplicates": written - args.writes,
                }
                print(f"{kind}: {results[kind]}")
    finally:
        handle.stop()
        db.dispose()
    print(json.dumps({"bench": "crm_adapters", **{f"{k}_{m}": v for k, r in results.items()
                                                   for m, v in r.items()}}))


if __name__ == "__main__":
    main()
