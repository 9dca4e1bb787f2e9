"""Post-call report speed and CRM write-back throughput, on local engines.

    .venv/bin/python bench/report.py [--minutes 30] [--calls 100] [--concurrency 4]

1. A 30-minute call's transcript (synthetic, ~400 turns) → instant-tier analysis → stored
   report → page charts (SVG) → PDF; seconds for each (model load reported apart).
2. 100 calls' activities written to the sandbox's HubSpot API by a real worker subprocess,
   with HubSpot's limit (190 requests per rolling 10 s) enforced by the sandbox: calls/s,
   429s served, the peak 10-second request count and duplicates.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections import deque
from typing import Any

from faults import Bench, wait_until  # the shared benchmark environment

REP = ["Thanks for joining today. How does your team run discovery calls right now?",
       "What happens after a deal stalls? Who gets involved at that point?",
       "That makes sense. Our customers usually see ramp time drop within a quarter.",
       "Could you walk me through how you forecast the pipeline each week?",
       "I hear you on price. What budget did you set aside for enablement this year?",
       "Compared to Gong, we coach live during the call rather than only afterwards.",
       "Let me show you how the nudges look in Salesforce while a rep is talking.",
       "So if I understand correctly, onboarding new reps takes about five months?",
       "I will send the proposal on Friday. Can we meet next Tuesday with your manager?",
       "Basically, um, the platform, you know, actually covers all of that for you."]
CUSTOMER = ["We mostly rely on ride-alongs and call recordings that nobody listens to.",
            "Honestly it sounds expensive, we do not have budget until next quarter.",
            "We already use Gong for recordings, so I am not sure we need another tool.",
            "I would need to check with my VP before committing to anything.",
            "Ramp time is our biggest issue, new reps take five or six months.",
            "That is interesting. How long does a typical rollout take?",
            "Send me the pricing and a case study from a company our size.",
            "Tuesday works. Please include the security documentation as well."]

TENANT = "hs:4242424242"
HS_LIMIT = 190  # HubSpot: requests per rolling 10 seconds per app (the sandbox's figure)


def long_call(minutes: float, rng: random.Random) -> list[tuple[str, str, int, int]]:
    turns, t, seq = [], 0, 0
    while t < minutes * 60_000:
        speaker = "rep" if seq % 2 == 0 else "customer"
        n = rng.randint(1, 3) if speaker == "rep" else rng.randint(1, 2)
        text = " ".join(rng.choice(REP if speaker == "rep" else CUSTOMER) for _ in range(n))
        dur = 380 * len(text.split())
        turns.append((speaker, text, t, t + dur))
        t += dur + rng.randint(300, 1500)
        seq += 1
    return turns


def report_speed(minutes: float) -> dict[str, Any]:
    from plugin.coach import CoachSession, default_playbook
    from plugin.db import db
    from plugin.models import Call, Turn
    from plugin.pipeline import stages
    from plugin.reports import charts
    from plugin.reports.pdf import report_pdf
    from plugin.tenancy import ensure_tenant

    bench = Bench(embeddings=True)
    try:
        t = time.perf_counter()
        CoachSession(default_playbook())  # loads the MiniLM model and prototype vectors once
        model_load = time.perf_counter() - t
        turns = long_call(minutes, random.Random(3))
        with db.session_scope() as s:
            ensure_tenant(s, "demo", "demo")
            call = Call(tenant_id="demo", source="replay", status="ended", title="30-minute call",
                        duration_ms=turns[-1][3])
            s.add(call)
            s.flush()
            for seq, (speaker, text, start, end) in enumerate(turns):
                s.add(Turn(tenant_id="demo", call_id=call.id, seq=seq, speaker=speaker, text=text,
                           start_ms=start, end_ms=end))
            call_id = call.id
        with bench.app.app_context():
            t = time.perf_counter()
            version = stages.analyse(call_id, bench.settings)
            analyse_s = time.perf_counter() - t
        from plugin.models import Report

        with db.session_scope() as s:
            data = s.query(Report).filter_by(call_id=call_id, version=version).one().data
        t = time.perf_counter()
        svgs = [charts.render(name, data) for name in charts.CHARTS]
        charts_s = time.perf_counter() - t
        t = time.perf_counter()
        pdf = report_pdf(data, "https://example.invalid/panel/calls/x")
        pdf_s = time.perf_counter() - t
        return {"minutes": round(turns[-1][3] / 60_000, 1), "turns": len(turns),
                "model_load_s": round(model_load, 2), "analyse_and_store_s": round(analyse_s, 2),
                "charts_svg_s": round(charts_s, 2), "pdf_s": round(pdf_s, 2),
                "report_total_s": round(analyse_s + charts_s + pdf_s, 2),
                "pdf_kb": len(pdf) // 1024, "svg_kb": sum(len(x) for x in svgs) // 1024,
                "objections": len(data["objections"]), "score": data["scores"].get("overall")}
    finally:
        bench.close()


def enforce_hubspot_limit(app: Any, limit: int, served: dict[str, int]) -> None:
    """Make the sandbox refuse HubSpot calls over ``limit`` per rolling 10 s with a 429 and a
    Retry-After, as HubSpot does (the sandbox itself only reports the limit in headers)."""
    from flask import jsonify, request

    window: deque[float] = deque()
    lock = threading.Lock()

    @app.before_request
    def _limit() -> Any:
        if not request.path.startswith("/crm/"):
            return None
        now = time.monotonic()
        with lock:
            while window and now - window[0] >= 10.0:
                window.popleft()
            if len(window) >= limit:
                served["429"] += 1
                wait = max(0.1, 10.0 - (now - window[0]))
                resp = jsonify(status="error", category="RATE_LIMITS",
                               message="You have reached your ten_secondly_rolling limit.",
                               errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING")
                resp.status_code = 429
                resp.headers["Retry-After"] = f"{wait:.1f}"
                return resp
            window.append(now)
            served["peak"] = max(served["peak"], len(window))
        return None


def writeback_throughput(n: int, concurrency: int, limit: int) -> dict[str, Any]:
    bench = Bench()
    try:
        handle = bench.start_sandbox()
        served = {"429": 0, "peak": 0}
        enforce_hubspot_limit(handle.app, limit, served)
        bench.connect(TENANT, "hubspot")
        record_id = bench.person("hubspot")
        calls = bench.make_calls(n, TENANT, record_id, "contact")
        bench.start_worker(concurrency=concurrency)
        time.sleep(0.5)
        t0 = time.monotonic()
        bench.enqueue_all([item for _c, item in calls])
        done = wait_until(lambda: set(bench.outbox_status()) <= {"done", "failed"}, timeout=900,
                          every=0.2)
        elapsed = time.monotonic() - t0
        acts = bench.activities()
        per_call = {c: sum(1 for a in acts if c in a["text"]) for c, _ in calls}
        requests = [r for r in handle.state.faults.requests() if r["path"].startswith("/crm/")]
        return {"calls": n, "concurrency": concurrency, "finished": done,
                "seconds": round(elapsed, 1), "calls_per_s": round(n / elapsed, 2),
                "crm_requests": len(requests), "hs_limit_per_10s": limit,
                "peak_requests_per_10s": served["peak"], "rate_limited_429s": served["429"],
                "outbox": bench.outbox_status(),
                "duplicates": sum(max(0, k - 1) for k in per_call.values()),
                "lost": sum(1 for k in per_call.values() if k == 0)}
    finally:
        bench.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--limit", type=int, default=HS_LIMIT, help="requests per 10 s enforced")
    ap.add_argument("--skip-report", action="store_true")
    ap.add_argument("--skip-writeback", action="store_true")
    args = ap.parse_args()
    result: dict[str, Any] = {"bench": "report"}
    if not args.skip_report:
        result["report"] = report_speed(args.minutes)
        print(json.dumps(result["report"]), flush=True)
    if not args.skip_writeback:
        result["writeback"] = writeback_throughput(args.calls, args.concurrency, args.limit)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
