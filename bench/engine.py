"""Per-turn latency of the coach engine's instant tier (CoachSession.on_turn).

Builds realistic calls from the labelled utterances in tests/data/moments.jsonl (rep and
customer turns alternating, durations from word counts at ~155 wpm, natural gaps and the
odd overlap), feeds them turn by turn and reports p50/p99 latency and turns per second,
with and without embeddings. The embedding text cache is cleared before every turn so each
turn pays for its own encoding (prototype encodings stay cached, as in production).
Wall-clock percentiles (``p50_ms``…) include time spent waiting for a CPU on a busy machine;
``cpu_*`` percentiles count only this thread's CPU time (what an idle core would take).
The last line of output is ONE JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one call = one thread, as in the web app

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.progress import Progress  # noqa: E402

from plugin.coach import CoachSession, Turn, default_playbook  # noqa: E402
from plugin.nlp.embeddings import Embedder  # noqa: E402

DATA = ROOT / "tests" / "data" / "moments.jsonl"


def build_calls(n_turns: int, turns_per_call: int, seed: int) -> list[list[Turn]]:
    rows = [json.loads(x) for x in DATA.read_text().splitlines() if x.strip()]
    by = {"rep": [r["text"] for r in rows if r["speaker"] == "rep"],
          "customer": [r["text"] for r in rows if r["speaker"] == "customer"]}
    rng = random.Random(seed)
    calls: list[list[Turn]] = []
    made = 0
    while made < n_turns:
        turns: list[Turn] = []
        t = 0
        for seq in range(min(turns_per_call, n_turns - made)):
            speaker = "rep" if seq % 2 == 0 else "customer"
            # Reps sometimes chain two or three sentences into one turn.
            k = rng.choice([1, 1, 2, 3]) if speaker == "rep" else rng.choice([1, 1, 2])
            text = " ".join(rng.choice(by[speaker]) for _ in range(k))
            dur = int(len(text.split()) / 155 * 60_000) + 400
            gap = rng.choice([-600, 200, 400, 700, 1200, 1800])
            start = max(0, t + gap)
            turns.append(Turn(seq, speaker, text, start, start + dur))  # type: ignore[arg-type]
            t = start + dur
        calls.append(turns)
        made += len(turns)
    return calls


def run(calls: list[list[Turn]], use_embeddings: bool, label: str) -> dict[str, float]:
    pb = default_playbook()
    lat: list[float] = []
    cpu: list[float] = []
    emb = Embedder.get() if use_embeddings else None
    CoachSession(pb, use_embeddings=use_embeddings)  # warm-up: model + prototypes
    total = sum(len(c) for c in calls)
    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=total)
        for call in calls:
            s = CoachSession(pb, use_embeddings=use_embeddings)
            for turn in call:
                if emb is not None:
                    emb._cache.clear()
                t0, c0 = time.perf_counter(), time.thread_time()
                s.on_turn(turn)
                lat.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
                progress.advance(task)
            s.on_tick(call[-1].end_ms + 1000, "rep")
            s.report()
    lat.sort()
    cpu.sort()
    n = len(lat)
    return {"turns": n, "p50_ms": round(lat[n // 2], 3),
            "cpu_p50_ms": round(cpu[n // 2], 3),
            "cpu_p99_ms": round(cpu[min(n - 1, int(n * 0.99))], 3),
            "p90_ms": round(lat[int(n * 0.9)], 3),
            "p99_ms": round(lat[min(n - 1, int(n * 0.99))], 3),
            "max_ms": round(lat[-1], 3), "mean_ms": round(sum(lat) / n, 3),
            "turns_per_s": round(n / (sum(lat) / 1000), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=1200, help="turns per mode (default 1200)")
    ap.add_argument("--turns-per-call", type=int, default=60, help="turns per simulated call")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rules-only", action="store_true", help="skip the embeddings run")
    args = ap.parse_args()
    calls = build_calls(args.turns, args.turns_per_call, args.seed)
    out: dict[str, object] = {"cpu_count": os.cpu_count(),
                              "load_avg_1m": round(os.getloadavg()[0], 2)}
    t0 = time.perf_counter()
    if not args.rules_only and Embedder.available():
        Embedder.get()
        out["model_load_s"] = round(time.perf_counter() - t0, 2)
    out["rules_only"] = run(calls, False, "rules only")
    if not args.rules_only and Embedder.available():
        out["with_embeddings"] = run(calls, True, "with embeddings")
        e = Embedder.get()
        sample = [t.text for c in calls[:1] for t in c][:50]
        e._cache.clear()
        t1 = time.perf_counter()
        for text in sample:
            e._cache.clear()
            e.encode([text])
        out["encode_ms_per_sentence"] = round((time.perf_counter() - t1) * 1000 / len(sample), 2)
    for k, v in out.items():
        print(f"{k}: {v}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
