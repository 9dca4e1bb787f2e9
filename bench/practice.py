"""Practice mode: reply-scoring latency through the service (cold and warm) and how well the
scoring separates strong from generic answers on every shipped scenario.

Runs in a throw-away instance (own SQLite database). Strong answers are the rep-worded runs in
tests/practice/data/good_runs.yaml; generic answers are a fixed list of vague, negative,
off-topic and risky replies. The last line of output is ONE JSON object with the figures.

    .venv/bin/python bench/practice.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from rich.progress import Progress

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin import migrate  # noqa: E402
from plugin.db import db  # noqa: E402
from plugin.practice.scenarios import library  # noqa: E402
from plugin.practice.service import PracticeService  # noqa: E402
from plugin.security import Identity  # noqa: E402
from plugin.tenancy import ensure_tenant, ensure_user  # noqa: E402

GENERIC = [
    "Our product is the best on the market, trust me.",
    "Unfortunately we can't really change that, it is what it is.",
    "Um, I guess, like, maybe we could basically look at it?",
    "Sure. Anyway, did you see the game last night?",
    "We guarantee you will double your revenue in a month.",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over every scenario")
    args = parser.parse_args()
    runs: dict[str, list[str]] = yaml.safe_load(
        (ROOT / "tests" / "practice" / "data" / "good_runs.yaml").read_text())
    tmp = Path(tempfile.mkdtemp(prefix="bench-practice-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    migrate.upgrade(url)
    db.configure(url)
    with db.session_scope() as s:
        ensure_tenant(s, "bench", "demo")
        user = ensure_user(s, "bench", "bench-rep")
        who = Identity(tenant_id="bench", user_id=user.id, crm_user_id="bench-rep")

    def reply(sid: str, text: str) -> tuple[dict[str, Any], float]:
        t0 = time.perf_counter()
        with db.session_scope() as s:
            out = PracticeService(s, who).reply(sid, text)
        return out, time.perf_counter() - t0

    latencies: list[float] = []
    cold_s = 0.0
    wins = 0
    sessions = 0
    good_scores: list[int] = []
    generic_scores: list[int] = []
    false_good = 0
    total = args.rounds * sum(len(r) + len(GENERIC) for r in runs.values())
    with Progress(transient=True) as progress:
        task = progress.add_task("scoring replies", total=total)
        for _ in range(args.rounds):
            for scenario_id in library():
                with db.session_scope() as s:
                    sid = PracticeService(s, who).start(scenario_id)["id"]
                sessions += 1
                out: dict[str, Any] = {}
                for text in runs[scenario_id]:
                    out, dt = reply(sid, text)
                    if not cold_s:
                        cold_s = dt
                    else:
                        latencies.append(dt)
                    good_scores.append(out["reply"]["overall"])
                    progress.advance(task)
                wins += out.get("buyer", {}).get("outcome") == "next_step_agreed"
                for text in GENERIC:
                    with db.session_scope() as s:
                        gid = PracticeService(s, who).start(scenario_id)["id"]
                    sessions += 1
                    out, dt = reply(gid, text)
                    latencies.append(dt)
                    generic_scores.append(out["reply"]["overall"])
                    false_good += out["reply"]["quality"] == "good"
                    progress.advance(task)
    figures = {
        "scenarios": len(library()), "sessions": sessions, "replies": len(latencies) + 1,
        "cold_first_reply_s": round(cold_s, 3),
        "warm_reply_p50_ms": round(pct(latencies, 0.5) * 1000, 1),
        "warm_reply_p95_ms": round(pct(latencies, 0.95) * 1000, 1),
        "strong_runs_won": f"{wins}/{args.rounds * len(library())}",
        "strong_reply_mean_overall": round(statistics.mean(good_scores), 1),
        "generic_reply_mean_overall": round(statistics.mean(generic_scores), 1),
        "generic_replies_judged_good": false_good,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
