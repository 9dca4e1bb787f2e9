"""End-of-session scorecard and progress across sessions (pure functions over plain dicts)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from plugin.practice.buyer import CLOSING
from plugin.practice.flaws import ADVICE
from plugin.practice.scenarios import Scenario

DIMENSIONS = ("tone", "content", "strategy")
_STEP_ADVICE = {
    "acknowledge": "Acknowledge the concern before answering (\"That's fair…\").",
    "clarify": "Ask a clarifying question before you respond.",
    "respond": "Answer the buyer's actual point with the key facts.",
    "confirm": "End each answer with a confirming question or a next step.",
}
_OUTCOMES = {
    "next_step_agreed": "Next step agreed",
    "buyer_ended": "The buyer ended the call",
    "rep_finished": "Ended by you before a next step",
    "": "In progress",
}


def _avg(values: list[float]) -> int | None:
    return round(sum(values) / len(values)) if values else None


def build_scorecard(scenario: Scenario, state: dict[str, Any],
                    replies: list[dict[str, Any]]) -> dict[str, Any]:
    """Averages, per-objection results, strengths and what to practise next.

    ``replies``: each reply's stored ``scores`` (``Feedback.to_dict()``) with ``objection``.
    """
    dims = {d: _avg([r["scores"][d]["score"] for r in replies]) for d in DIMENSIONS}
    overall = _avg([r["scores"]["overall"] for r in replies])
    labels = {o.id: o.phrasings[0] for o in scenario.objections}
    labels[CLOSING] = scenario.closing.ask
    kp_labels = {kp.id: kp.label for o in scenario.objections for kp in o.key_points}
    kp_labels.update({kp.id: kp.label for kp in scenario.closing.key_points})
    objections = [{**r, "label": labels.get(r["id"], r["id"])} for r in state.get("results", [])]

    steps: Counter[str] = Counter()
    missed_steps: Counter[str] = Counter()
    missed_points: Counter[str] = Counter()
    for r in replies:
        for step, done in r["scores"]["strategy"]["details"]["steps"].items():
            steps[step] += 1
            if not done:
                missed_steps[step] += 1

    # key points never covered at an objection the buyer raised (earlier misses that were
    # made up later don't count)
    stage_points = {o.id: [kp.id for kp in o.key_points] for o in scenario.objections}
    stage_points[CLOSING] = [kp.id for kp in scenario.closing.key_points]
    for o in objections:
        if o["status"] != "not_reached" and o["status"] != "handled":
            for kp in stage_points.get(o["id"], []):
                if kp not in o.get("covered", []):
                    missed_points[kp] += 1

    flaw_counts: Counter[str] = Counter(
        f["kind"] for r in replies for f in r["scores"].get("flaws", []))
    flawed_dims = {d for r in replies for d in DIMENSIONS
                   if r["scores"][d].get("details", {}).get("flaws")}

    # Strengths follow the scores: none for a session that went badly overall, no dimension
    # a flaw dragged down, no step the rep did while also making a flaw.
    strengths: list[str] = []
    n = len(replies)
    if overall is not None and overall >= 60:
        for step in _STEP_ADVICE:
            done = steps[step] - missed_steps[step]
            if n >= 2 and done == n and not flaw_counts:
                strengths.append(f"{step.capitalize()}: every reply ({n}/{n}).")
        for d in DIMENSIONS:
            value = dims[d]
            if value is not None and value >= 75 and d not in flawed_dims:
                strengths.append(f"Strong {d} ({value}/100).")
    handled = [o for o in objections if o["status"] == "handled" and o["id"] != CLOSING]
    if handled:
        strengths.append(f"Handled {len(handled)} of {len(scenario.objections)} objections.")

    practise: list[str] = []
    for kind, _count in flaw_counts.most_common(2):
        practise.append(ADVICE[kind])
    scored = [(v, d) for d, v in dims.items() if v is not None]
    if scored:
        low, dim = min(scored)
        if low < 75:
            practise.append(f"Work on {dim} (average {low}/100).")
    for step, _count in missed_steps.most_common(2):
        practise.append(_STEP_ADVICE[step])
    for kp, _count in missed_points.most_common(2):
        practise.append(f"Key point you missed: {kp_labels.get(kp, kp)}.")
    if state.get("outcome") != "next_step_agreed":
        practise.append("Finish with a concrete next step: a date, a time and who joins.")
    return {
        "scenario_id": scenario.id, "title": scenario.title, "replies": n,
        "overall": overall, "averages": dims,
        "outcome": state.get("outcome", ""), "outcome_label": _OUTCOMES.get(
            state.get("outcome", ""), state.get("outcome", "")),
        "objections": objections, "strengths": strengths[:4] or ["Keep practising: "
                                                                 "no consistent strength yet."],
        "practise_next": practise[:4], "flaws": dict(flaw_counts),
    }


def build_progress(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """Progress over finished sessions (oldest first): series, per-scenario stats, trend.

    Each session dict: ``id, scenario_id, title, finished_at, overall, averages, outcome``.
    """
    per: dict[str, dict[str, Any]] = {}
    for s in sessions:
        entry = per.setdefault(s["scenario_id"], {"scenario_id": s["scenario_id"],
                                                  "title": s["title"], "sessions": 0,
                                                  "scores": []})
        entry["sessions"] += 1
        if s["overall"] is not None:
            entry["scores"].append(s["overall"])
    scenarios = []
    for e in per.values():
        scores = e.pop("scores")
        e.update(best=max(scores) if scores else None, last=scores[-1] if scores else None,
                 average=_avg(scores))
        scenarios.append(e)
    scored = [s["overall"] for s in sessions if s["overall"] is not None]
    trend = None
    if len(scored) >= 2:
        half = max(1, len(scored) // 2)
        trend = _avg(scored[-half:]) - _avg(scored[:half])  # type: ignore[operator]
    dims = {d: _avg([s["averages"][d] for s in sessions
                     if s.get("averages", {}).get(d) is not None]) for d in DIMENSIONS}
    weakest = min(((v, d) for d, v in dims.items() if v is not None), default=None)
    return {
        "sessions": sessions, "scenarios": scenarios, "count": len(sessions),
        "average": _avg(scored), "best": max(scored) if scored else None, "trend": trend,
        "averages": dims, "focus": weakest[1] if weakest else None,
    }
