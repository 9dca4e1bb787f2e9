"""Practice mode: how the feedback agrees with the labelled replies, whether the buyer ever
contradicts the transcript, and how long a buyer reply + feedback takes.

Runs in a throw-away instance (own SQLite database). Figures:

* agreement with ``tests/practice/data/practice_replies.jsonl`` (168 replies scored by the
  rubric in docs/practice.md) and with ``practice_replies_independent.jsonl`` (241 replies
  written to the same rubric by an author who never saw the scorer; measured only):
  Spearman and Pearson on overall, mean absolute error, label agreement, flawed replies
  scored >= 60, flaws found per kind, replies flagged that carry no flaw, and stronger
  answers that keep a flaw (any flaw found in a sentence of the stronger answer); the same
  for the development set the weights were chosen on, reported apart;
* a scripted audit of sessions (every scenario, five scripts each, mixing good, weak and
  flawed replies from the labelled set): buyer sentences that assert an offer, figure or day
  the rep never said (an independent term list, not the buyer's own grounding check);
* latency of one reply through the service (feedback + buyer) and of the strong runs in
  ``tests/practice/data/good_runs.yaml``;
* with ``--voice``: the server side of a voice turn (a WAV of the rep's answer ->
  transcript -> feedback + buyer -> first audio of the buyer's line from espeak-ng).

    .venv/bin/python bench/practice.py [--sessions-per-scenario 5] [--voice]

The last line of output is ONE JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin import migrate  # noqa: E402
from plugin.coach import default_playbook  # noqa: E402
from plugin.db import db  # noqa: E402
from plugin.practice import buyer  # noqa: E402
from plugin.practice.dialogue import own_lines  # noqa: E402
from plugin.practice.flaws import find_flaws, sentences  # noqa: E402
from plugin.practice.scenarios import Scenario, get_scenario, library  # noqa: E402
from plugin.practice.scoring import Meaning, score_reply  # noqa: E402
from plugin.practice.service import PracticeService  # noqa: E402
from plugin.security import Identity  # noqa: E402
from plugin.tenancy import ensure_tenant, ensure_user  # noqa: E402

DATA = ROOT / "tests" / "practice" / "data"
# What a buyer line could wrongly say the rep offered (the audit's own list).
AUDIT_TERMS = re.compile(
    r"\b(pilot|trial|workshop|discount|credit(?:ed)?|free|refund|review clause|reference|"
    r"case study|success manager|csm|success plan|soc 2|certif\w*|nda|whitepaper|deep dive|"
    r"setup call|invite|agenda|order form|two[- ]year|termination|exit clause|monday|tuesday|"
    r"wednesday|thursday|friday|tomorrow|next week|in writing|guarantee\w*)\b|"
    r"\$\s?\d[\d,]*|\d+(?:\.\d+)?\s*%", re.IGNORECASE)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks with ties averaged (for Spearman)."""
    x = np.asarray(values, dtype=float)
    order = x.argsort(kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):
        idx = np.where(x == v)[0]
        r[idx] = r[idx].mean()
    return r


def stage_index(s: Scenario, stage_id: str) -> int:
    return next((i for i, o in enumerate(s.objections) if o.id == stage_id), len(s.objections))


def agreement(path: Path, meaning: Meaning, playbook: Any) -> dict[str, Any]:
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    pred: list[int] = []
    gold: list[int] = []
    labels_ok = 0
    flawed_high = 0
    flaws_found: dict[str, list[int]] = {}
    false_flags = 0
    kept_flaw = 0
    misses: list[dict[str, Any]] = []
    for r in rows:
        s = get_scenario(r["scenario"])
        assert s is not None, r["scenario"]
        st = buyer.stage_of(s, stage_index(s, r["stage"]))
        fb = score_reply(r["text"], s, st, st.phrasings[0], set(), playbook, meaning)
        pred.append(fb.overall)
        gold.append(r["score"])
        band = "good" if r["score"] >= 70 else "partial" if r["score"] >= 45 else "weak"
        labels_ok += fb.quality == band
        kinds = {f["kind"] for f in fb.flaws}
        if r["kind"] == "flawed":
            flawed_high += fb.overall >= 60
            flaws_found.setdefault(r["flaw"], []).append(int(r["flaw"] in kinds))
        elif kinds:
            false_flags += 1
        improved_flaws = [f.kind for p in sentences(fb.improved)
                          for f in find_flaws(p, s, relevance=1.0, covered=1, said=st.phrasings[0])
                          if f.kind not in ("one_word", "off_topic")]
        kept_flaw += bool(improved_flaws)
        if abs(fb.overall - r["score"]) >= 30 or improved_flaws:
            misses.append({"id": r["id"], "gold": r["score"], "got": fb.overall,
                           "flaws": sorted(kinds), "kept": improved_flaws})
    rp, rg = ranks(pred), ranks(gold)
    return {
        "replies": len(rows),
        "spearman": round(float(np.corrcoef(rp, rg)[0, 1]), 3),
        "pearson": round(float(np.corrcoef(pred, gold)[0, 1]), 3),
        "mae": round(float(np.mean(np.abs(np.array(pred) - np.array(gold)))), 1),
        "label_agreement": round(labels_ok / len(rows), 3),
        "flawed_scored_ge_60": flawed_high,
        "flawed": sum(r["kind"] == "flawed" for r in rows),
        "flaw_recall": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(flaws_found.items())},
        "unflawed_flagged": false_flags,
        "stronger_keeps_a_flaw": kept_flaw,
        "largest_misses": sorted(misses, key=lambda m: -abs(m["gold"] - m["got"]))[:8],
    }


def audit_scripts(scenario: Scenario, rows: list[dict[str, Any]], n: int) -> list[list[str]]:
    """``n`` scripts per scenario: per stage, a reply of a kind that rotates with the script
    (good / flawed / weak / flawed / good ...), replies at a stage repeated until it moves on
    in the session itself."""
    by_stage: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        if r["scenario"] == scenario.id:
            by_stage.setdefault(r["stage"], {}).setdefault(r["kind"], []).append(r["text"])
    order = ["good", "flawed", "weak", "flawed", "good", "weak"]
    scripts = []
    for k in range(n):
        script = []
        for i, stage in enumerate([*[o.id for o in scenario.objections], "closing"]):
            kinds = by_stage.get(stage, {})
            for j in range(3):
                kind = order[(k + i + j) % len(order)] if j < 2 else "good"
                options = kinds.get(kind) or kinds.get("good") or []
                if options:
                    script.append(options[(k + j) % len(options)])
        scripts.append(script)
    return scripts


def contradictions(line: str, rep_said: list[str], own: str) -> list[str]:
    """Terms a buyer line asserts (outside questions) that neither the rep said nor belong to
    the buyer's own material (its scenario text: facts, objections, probes)."""
    heard = " ".join(rep_said).lower()
    bad = []
    for sent in sentences(line):
        if sent.rstrip().endswith("?"):
            continue
        for m in AUDIT_TERMS.finditer(sent):
            term = m.group(0).lower().replace(" ", "")
            if term not in heard.replace(" ", "") and term not in own:
                bad.append(f"{m.group(0)!r} in {sent!r}")
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions-per-scenario", type=int, default=5)
    parser.add_argument("--voice", action="store_true",
                        help="also time the server side of a voice turn (espeak-ng + STT)")
    args = parser.parse_args()
    playbook = default_playbook()
    meaning = Meaning(True)
    figures: dict[str, Any] = {"embeddings": meaning.available}

    t0 = time.perf_counter()
    figures["dev"] = agreement(DATA / "practice_replies_dev.jsonl", meaning, playbook)
    figures["dev"].pop("largest_misses")
    figures["warm_up_s"] = round(time.perf_counter() - t0, 1)
    figures["labelled"] = agreement(DATA / "practice_replies.jsonl", meaning, playbook)
    print(json.dumps({"labelled_largest_misses": figures["labelled"].pop("largest_misses")},
                     indent=1))
    # Written apart from the scorer (tests/practice/data/README_independent.md): measured
    # only, its misses are not printed, so nobody tunes the scorer to it.
    figures["independent"] = agreement(DATA / "practice_replies_independent.jsonl", meaning,
                                       playbook)
    figures["independent"].pop("largest_misses")

    tmp = Path(tempfile.mkdtemp(prefix="bench-practice-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    migrate.upgrade(url)
    db.configure(url)
    with db.session_scope() as s:
        ensure_tenant(s, "bench", "demo")
        user = ensure_user(s, "bench", "bench-rep")
        who = Identity(tenant_id="bench", user_id=user.id, crm_user_id="bench-rep")

    latencies: list[float] = []

    def reply(sid: str, text: str) -> dict[str, Any]:
        t = time.perf_counter()
        with db.session_scope() as s:
            out = PracticeService(s, who).reply(sid, text)
        latencies.append(time.perf_counter() - t)
        return out

    rows = [json.loads(ln) for ln in (DATA / "practice_replies.jsonl").read_text().splitlines()]
    sessions = 0
    bad_lines: list[str] = []
    buyer_lines = 0
    outcomes: dict[str, int] = {}
    for scenario in library().values():
        # the buyer's own material: opening, objections, probes, facts (not its reactions)
        own = " ".join(own_lines(scenario)).lower().replace(" ", "")
        for seed, script in enumerate(audit_scripts(scenario, rows, args.sessions_per_scenario)):
            with db.session_scope() as s:
                session = PracticeService(s, who).start(scenario.id, seed)
            sessions += 1
            said: list[str] = []
            for text in script:
                if session["status"] != "active":
                    break
                said.append(text)
                out = reply(session["id"], text)
                session = out["session"]
                buyer_lines += 1
                bad_lines += contradictions(out["buyer"]["text"], said, own)
            outcomes[session.get("outcome") or "open"] = outcomes.get(
                session.get("outcome") or "open", 0) + 1
    figures["audit"] = {"sessions": sessions, "buyer_lines": buyer_lines,
                        "contradictions": len(bad_lines), "examples": bad_lines[:5],
                        "outcomes": outcomes}

    runs: dict[str, list[str]] = yaml.safe_load((DATA / "good_runs.yaml").read_text())
    won = 0
    for scenario_id, script in runs.items():
        with db.session_scope() as s:
            sid = PracticeService(s, who).start(scenario_id, 0)["id"]
        last: dict[str, Any] = {}
        for text in script:
            last = reply(sid, text)
        won += last.get("buyer", {}).get("outcome") == "next_step_agreed"
    figures["strong_runs_won"] = f"{won}/{len(runs)}"
    figures["reply_p50_ms"] = round(pct(latencies, 0.5) * 1000, 1)
    figures["reply_p95_ms"] = round(pct(latencies, 0.95) * 1000, 1)
    figures["replies_timed"] = len(latencies)
    if args.voice:
        figures["voice"] = voice_turns(who)
    print(json.dumps(figures))


def voice_turns(who: Identity, n: int = 12) -> dict[str, Any]:
    """Server side of a voice turn: the rep's WAV (made with espeak-ng) is transcribed, scored
    and answered, and espeak-ng starts speaking the buyer's line: end of speech -> first byte
    of the buyer's audio."""
    from plugin.practice.tts import synthesize_wav
    from plugin.settings import load_settings
    from plugin.speech import get_stt

    if shutil.which("espeak-ng") is None:
        return {"skipped": "espeak-ng not installed"}
    settings = load_settings({})
    stt = get_stt(settings)
    answers = ["That's fair. How many days does your month-end close take today?",
               "Finance teams your size save about thirty hours a month.",
               "I understand. It syncs natively with NetSuite.",
               "Let's schedule a session with your controller next Tuesday."]
    totals: list[float] = []
    stt_ms: list[float] = []
    tts_ms: list[float] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    for i in range(n):
        wav = tmp / f"a{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "-w", str(wav),
                        answers[i % len(answers)]], check=True)
        with db.session_scope() as s:
            sid = PracticeService(s, who).start("cfo-discovery", i)["id"]
        t = time.perf_counter()
        turns = stt.transcribe_file(wav)
        text = " ".join(x.text for x in turns) or answers[i % len(answers)]
        t_stt = time.perf_counter()
        with db.session_scope() as s:
            line = PracticeService(s, who).reply(sid, text, source="voice")["buyer"]["text"]
        t_tts = time.perf_counter()
        synthesize_wav(line, first_chunk_only=True)
        end = time.perf_counter()
        stt_ms.append((t_stt - t) * 1000)
        tts_ms.append((end - t_tts) * 1000)
        totals.append(end - t)
    return {"turns": n, "stt_p50_ms": round(statistics.median(stt_ms)),
            "tts_first_audio_p50_ms": round(statistics.median(tts_ms)),
            "turn_p50_s": round(statistics.median(totals), 3),
            "turn_p95_s": round(pct(totals, 0.95), 3)}


if __name__ == "__main__":
    main()
