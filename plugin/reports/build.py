"""Assemble the stored report from the call, its turns and the analysers' results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from plugin.coach.types import Turn

SNIPPET_CHARS = 280


def _num(value: Any, default: float | None = None) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _pick(row: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    return None


def normalise_timeline(timeline: Any) -> list[dict[str, float | None]]:
    """Per-turn series as a list of points ``{t_ms, talk_ratio, rep_sentiment,
    customer_sentiment, pace}``, accepting a list of points or a dict of parallel lists."""
    rows: list[Mapping[str, Any]] = []
    if isinstance(timeline, Mapping):
        keys = list(timeline)
        length = max((len(v) for v in timeline.values() if isinstance(v, list)), default=0)
        for i in range(length):
            rows.append({k: (timeline[k][i]
                             if isinstance(timeline[k], list) and i < len(timeline[k]) else None)
                         for k in keys})
    elif isinstance(timeline, Sequence):
        rows = [r for r in timeline if isinstance(r, Mapping)]
    out = []
    for r in rows:
        raw = r.get("sentiment")
        sentiment: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        out.append({
            "t_ms": _num(_pick(r, "t_ms", "at_ms", "end_ms", "start_ms"), 0.0),
            "talk_ratio": _num(_pick(r, "talk_ratio", "rep_talk_ratio")),
            "rep_sentiment": _num(_pick(r, "rep_sentiment", "sentiment_rep")
                                  if _pick(r, "rep_sentiment", "sentiment_rep") is not None
                                  else sentiment.get("rep")),
            "customer_sentiment": _num(_pick(r, "customer_sentiment", "sentiment_customer")
                                       if _pick(r, "customer_sentiment", "sentiment_customer")
                                       is not None else sentiment.get("customer")),
            "pace": _num(_pick(r, "pace", "pace_wpm", "wpm")),
        })
    return out


def stretches(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """Uninterrupted stretches of one speaker (consecutive turns merged), longest first."""
    out: list[dict[str, Any]] = []
    for t in sorted(turns, key=lambda t: t.seq):
        if out and out[-1]["speaker"] == t.speaker:
            out[-1]["end_ms"] = max(out[-1]["end_ms"], t.end_ms)
            out[-1]["words"] += len(t.text.split())
        else:
            out.append({"speaker": t.speaker, "start_ms": t.start_ms, "end_ms": t.end_ms,
                        "words": len(t.text.split()), "turn_seq": t.seq})
    for s in out:
        s["duration_ms"] = max(0, s["end_ms"] - s["start_ms"])
    return sorted(out, key=lambda s: -s["duration_ms"])


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _objections(raw: Any, turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """Objections with the customer's words and the rep's answer as transcript snippets."""
    by_seq = {t.seq: t for t in turns}
    ordered = sorted(turns, key=lambda t: t.seq)
    out = []
    for item in raw or []:
        if not isinstance(item, Mapping):
            continue
        o = dict(item)
        seq = o.get("turn_seq")
        turn = by_seq.get(seq) if isinstance(seq, int) else None
        if turn is not None:
            o.setdefault("text", turn.text)
            if not o.get("response"):
                reply = next((t for t in ordered if t.seq > turn.seq and t.speaker == "rep"), None)
                o["response"] = reply.text if reply else ""
            o.setdefault("at_ms", turn.start_ms)
        o["label"] = str(o.get("label") or o.get("kind") or o.get("type") or "objection")
        o["text"] = _snippet(str(o.get("text") or ""))
        o["response"] = _snippet(str(o.get("response") or ""))
        out.append(o)
    return out


def _strings(items: Any) -> list[str]:
    out = []
    for item in items or []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(str(_pick(item, "text", "label", "title") or ""))
    return [s for s in out if s]


def build_report(call: Mapping[str, Any], turns: Sequence[Turn],
                 results: Mapping[str, Mapping[str, Any]], version: int,
                 source_hash: str) -> dict[str, Any]:
    """The report stored in ``Report.data``: the instant tier's report, enriched and merged.

    ``results`` maps analyser name to its output; ``instant`` is the base. Other analysers
    may refine ``summary``, ``tips``, ``action_items`` and ``next_steps``; everything they
    return is kept under ``analysers.<name>``.
    """
    base = dict(results.get("instant", {}))
    extra = {name: dict(r) for name, r in results.items() if name != "instant"}
    for r in extra.values():
        if r.get("error"):
            continue  # a failed optional analyser keeps the instant tier's findings
        for key in ("summary", "tips", "action_items", "next_steps"):
            if r.get(key):
                base[key] = r[key]
    tips = _strings(base.get("tips"))[:3]
    duration = int(call.get("duration_ms") or (max((t.end_ms for t in turns), default=0)))
    return {
        "version": version,
        "source_hash": source_hash,
        "generated_at": datetime.now(UTC).isoformat(),
        "call": dict(call, duration_ms=duration, turns=len(turns)),
        "summary": str(base.get("summary") or ""),
        "scores": {k: v for k, v in (base.get("scores") or {}).items()
                   if isinstance(v, int | float)},
        "metrics": base.get("metrics") or {},
        "timeline": normalise_timeline(base.get("timeline")),
        "monologues": stretches(turns)[:5],
        "segments": sorted(stretches(turns), key=lambda x: x["start_ms"]),
        "questions": list(base.get("questions") or []),
        "customer_questions": list(base.get("customer_questions") or []),
        "unanswered_questions": list(base.get("unanswered_questions") or []),
        "objections": _objections(base.get("objections"), turns),
        "moments": list(base.get("moments") or []),
        "action_items": _strings(base.get("action_items")),
        "next_steps": _strings(base.get("next_steps")),
        "tips": tips,
        "nudges": list(base.get("nudges") or []),
        "claims": [dict(c) for c in base.get("claims") or [] if isinstance(c, Mapping)],
        "targets": dict(base.get("targets") or {}),
        "analysers": extra,
    }


def overall_score(report: Mapping[str, Any]) -> int | None:
    """The headline score: ``overall`` if the engine gives one, else the mean of the scores."""
    scores = report.get("scores") or {}
    if "overall" in scores:
        return round(float(scores["overall"]))
    values = [float(v) for v in scores.values() if isinstance(v, int | float)]
    return round(sum(values) / len(values)) if values else None
