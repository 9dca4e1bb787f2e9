"""End-of-call report: scores 0-100, timeline, moments, objections, next steps, tips, summary.

The report states only what happened: objections are counted once per concern and only
when the judge was sure enough to nudge; a next step needs a time or a concrete action and
no refusal after it; targets are scaled to the call's length; every summary claim names the
turn it rests on (``claims``).

Scores (see docs/coach.md for the exact formulas):
- discovery: questions vs the (length-scaled) target, share of open questions, checklist;
- listening: talk ratio near target, longest monologue, interruptions, unanswered questions;
- objection_handling: acknowledged, paused, clarified with a question (75 when none raised);
- next_steps: next step agreed, action items, buying signals followed up;
- delivery: pace, fillers, risky/negative language, jargon;
- overall: weighted mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from plugin.coach.text import normalise

if TYPE_CHECKING:
    from plugin.coach.session import CoachSession, ObjectionRecord

WEIGHTS = {"discovery": 0.25, "listening": 0.25, "objection_handling": 0.2,
           "next_steps": 0.15, "delivery": 0.15}
NO_OBJECTIONS_SCORE = 75
REFERENCE_CALL_S = 30 * 60  # the questions target (11-14) is for a ~30-minute discovery call
MIN_CALL_FOR_QUESTIONS_S = 120  # below this a call has no questions target
_CONCRETE = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|tonight|today|"
    r"\d{1,2}(:\d\d)?\s?(am|pm)|\d{1,2}(st|nd|rd|th)|o'clock|noon|morning|afternoon|"
    r"end of (the )?(day|week|month)|january|february|march|april|june|july|august|"
    r"september|october|november|december|trial|pilot|proof of concept|order form|contract|"
    r"invite|calendar|booked|book|schedul\w*|kick ?off|sign\w*)\b")
_REFUSAL = re.compile(r"^\W*(no\b|nope|not (yet|now|really|sure)|i('d| would) rather not|"
                      r"let me think|we'll see|hold off|i can't commit|i don't think so)")


@dataclass(slots=True)
class CallReport:
    scores: dict[str, int]
    metrics: dict[str, Any]
    timeline: list[dict[str, Any]]
    moments: list[dict[str, Any]]
    questions: list[dict[str, Any]]
    objections: list[dict[str, Any]]
    action_items: list[dict[str, Any]]
    next_steps: list[dict[str, Any]]
    tips: list[str]
    summary: str
    nudges: list[dict[str, Any]] = field(default_factory=list)
    customer_questions: list[dict[str, Any]] = field(default_factory=list)
    unanswered_questions: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    targets: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scores": dict(self.scores), "metrics": self.metrics,
            "timeline": list(self.timeline), "moments": list(self.moments),
            "questions": list(self.questions), "objections": list(self.objections),
            "action_items": list(self.action_items), "next_steps": list(self.next_steps),
            "tips": list(self.tips), "summary": self.summary, "nudges": list(self.nudges),
            "customer_questions": list(self.customer_questions),
            "unanswered_questions": list(self.unanswered_questions),
            "claims": list(self.claims), "targets": dict(self.targets),
        }


def _clamp(x: float) -> int:
    return int(round(max(0.0, min(100.0, x))))


def _closeness(value: float, target: float, worst: float) -> float:
    """1 at target, 0 at ``worst`` distance or beyond."""
    return max(0.0, 1.0 - abs(value - target) / worst)


def concerns(session: CoachSession) -> list[dict[str, Any]]:
    """Objections once per concern: the confident records grouped by type, in order of
    first raising, with every turn that raised it and how the first answer went; a concern
    raised again after it was answered is still open."""
    groups: dict[str, list[ObjectionRecord]] = {}
    for o in session.s.objections:
        if o.confident:
            groups.setdefault(o.label, []).append(o)
    out = []
    for label, recs in groups.items():
        first = recs[0]
        answered = next((r for r in recs if r.response is not None), None)
        raised_again = answered is not None and any(
            r.turn_seq > (answered.response_seq or 0) for r in recs)
        status = ("open" if answered is None or raised_again
                  else "handled" if answered.acknowledged else "answered")
        base = (answered or first).to_dict()
        out.append({**base, "label": label, "turn_seq": first.turn_seq, "at_ms": first.at_ms,
                    "text": first.text, "turns": [r.turn_seq for r in recs],
                    "times_raised": len(recs), "status": status})
    return out


def targets(session: CoachSession) -> dict[str, Any]:
    """The question target for this call: the playbook's (for a ~30-minute discovery call)
    scaled to the call's length; none for calls under two minutes."""
    th, dur = session.playbook.thresholds, session.metrics()["duration_s"]
    if dur < MIN_CALL_FOR_QUESTIONS_S:
        return {"questions_min": None, "questions_max": None, "duration_s": dur}
    scale = min(1.0, dur / REFERENCE_CALL_S)
    return {"questions_min": max(1, round(th.questions_target_min * scale)),
            "questions_max": max(2, round(th.questions_target_max * scale)),
            "duration_s": dur}


def agreed_next_steps(session: CoachSession) -> list[dict[str, Any]]:
    """Next steps the call actually agreed: a confident next-step turn that names a time or
    a concrete action, not refused by the other side's next turn."""
    s = session.s
    by_seq = {t.seq: i for i, t in enumerate(s.turns)}
    out = []
    for ns in s.next_steps:
        if not ns.get("confident", True) or not _CONCRETE.search(normalise(ns["text"])):
            continue
        i = by_seq.get(ns["turn_seq"])
        reply = next((t for t in s.turns[i + 1:] if t.speaker != ns["speaker"]), None) \
            if i is not None else None
        if reply is not None and _REFUSAL.search(normalise(reply.text)):
            continue
        out.append(dict(ns))
    return out


def score(session: CoachSession, agreed: list[dict[str, Any]] | None = None,
          tg: dict[str, Any] | None = None) -> dict[str, int]:
    s, th, m = session.s, session.playbook.thresholds, session.metrics()
    agreed = agreed_next_steps(session) if agreed is None else agreed
    tg = targets(session) if tg is None else tg
    n_q = m["questions"]["total"]
    open_share = m["questions"]["open"] / n_q if n_q else 0.0
    q_min, q_max = tg["questions_min"], tg["questions_max"]
    q_fit = 1.0 if q_min is None else min(1.0, n_q / q_min)
    if q_max is not None and n_q > q_max * 2:  # interrogation, not discovery
        q_fit *= 0.8
    items = [i.id for i in session.playbook.checklist if i.id != "next_step"]
    coverage = sum(1 for i in items if i in s.checklist) / len(items) if items else 1.0
    discovery = 100 * (0.45 * q_fit + 0.2 * (open_share if n_q else 0.0) + 0.35 * coverage)

    if s.turns:
        ratio_fit = _closeness(m["talk_ratio"], th.talk_ratio_target, 0.45)
        mono_fit = max(0.0, 1.0 - max(0.0, m["longest_monologue_s"] - th.monologue_nudge_s)
                       / (th.pitch_too_long_s * 2))
        listening = 100 * (0.55 * ratio_fit + 0.25 * mono_fit + 0.2) \
            - 8 * m["interruptions"] - 10 * m["unanswered_questions"]
    else:
        listening = 0.0

    cs = concerns(session)
    if cs:
        per = []
        for o in cs:
            if o["response"] is None:
                per.append(0.2)
                continue
            pts = 0.2 + 0.4 * bool(o["acknowledged"]) + 0.2 * bool(o["asked_question"])
            paused = o["pause_ms"] is None or o["pause_ms"] >= th.pause_after_objection_ms * 0.5
            pts += 0.2 * paused  # unknown pause (untimed text) is not held against the rep
            per.append(pts)
        objection_handling = 100 * sum(per) / len(per)
    else:
        objection_handling = NO_OBJECTIONS_SCORE

    rep_actions = any(a["owner"] == "rep" for a in s.action_items)
    buying = sum(1 for mo in s.moments if mo.kind == "buying_signal" and not mo.quiet)
    next_steps = 100 * (0.6 * bool(agreed) + 0.25 * rep_actions
                        + 0.15 * (buying > 0 or bool(agreed)))

    delivery = 100.0
    pace = m["pace_wpm"]
    if pace is not None and pace > th.pace_warn_wpm:
        delivery -= min(30, (pace - th.pace_warn_wpm) * 0.75)
    delivery -= min(25, max(0.0, m["fillers_per_min"] - 2) * 5)
    kinds = [mo.kind for mo in s.moments]
    delivery -= 15 * kinds.count("risky") + 5 * kinds.count("negative") \
        + 3 * kinds.count("jargon")

    scores = {"discovery": _clamp(discovery), "listening": _clamp(listening),
              "objection_handling": _clamp(objection_handling),
              "next_steps": _clamp(next_steps), "delivery": _clamp(delivery)}
    scores["overall"] = _clamp(sum(scores[k] * w for k, w in WEIGHTS.items()))
    return scores


def tips(session: CoachSession, scores: dict[str, int], cs: list[dict[str, Any]],
         agreed: list[dict[str, Any]], tg: dict[str, Any]) -> list[str]:
    """1-3 coaching tips for the weakest areas, most important first."""
    s, th, m = session.s, session.playbook.thresholds, session.metrics()
    cands: list[tuple[float, str]] = []
    enough_speech = m["rep_talk_s"] + m["customer_talk_s"] >= th.talk_ratio_min_speech_s
    if enough_speech and m["talk_ratio"] > th.talk_ratio_warn:
        cands.append((scores["listening"], f"You talked {m['talk_ratio']:.0%} of the call; aim "
                      f"for about {th.talk_ratio_target:.0%} by asking more open questions."))
    if m["longest_monologue_s"] > th.monologue_nudge_s:
        cands.append((scores["listening"] + 1, f"Your longest monologue ran "
                      f"{m['longest_monologue_s']:.0f} s; check in with a question every minute."))
    if tg["questions_min"] is not None and m["questions"]["total"] < tg["questions_min"]:
        cands.append((scores["discovery"], f"You asked {m['questions']['total']} questions; "
                      f"for a call this long aim for {tg['questions_min']}-"
                      f"{tg['questions_max']}."))
    missing = [i.label for i in session.playbook.checklist
               if i.id not in s.checklist and i.id != "next_step"]
    if missing and tg["questions_min"] is not None:
        cands.append((scores["discovery"] + 2,
                      f"Cover {', '.join(missing[:3]).lower()} in discovery next time."))
    unack = [o for o in cs if o["response"] is not None and not o["acknowledged"]]
    if unack:
        cands.append((scores["objection_handling"], f"Acknowledge objections before answering "
                      f"({len(unack)} of {len(cs)} were answered without acknowledging the "
                      "concern first)."))
    if not agreed:
        cands.append((scores["next_steps"], "End every call with a concrete next step and a "
                      "date both sides agree on."))
    risky = [mo.label for mo in s.moments if mo.kind == "risky"]
    if risky:
        cands.append((scores["delivery"] - 20, f"Avoid promises like \"{risky[0]}\"; offer to "
                      "confirm in writing instead."))
    if m["fillers_per_min"] > 3:
        cands.append((scores["delivery"], f"{m['fillers_per_min']:.1f} filler words a minute: "
                      "replace them with a short pause."))
    if m["interruptions"] >= th.interruptions_repeat:
        cands.append((scores["listening"], f"You interrupted {m['interruptions']} times; let "
                      "the customer finish."))
    cands.sort(key=lambda c: c[0])
    out = [t for _, t in cands[:3]]
    if not out:
        out = ["Solid call: keep asking open questions and confirming next steps in writing."]
    return out


def claims(session: CoachSession, scores: dict[str, int], cs: list[dict[str, Any]],
           agreed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The summary's statements, each with the turn it rests on (None: the whole call)."""
    s, m = session.s, session.metrics()
    minutes = m["duration_s"] / 60.0
    out: list[dict[str, Any]] = [
        {"kind": "length", "turn_seq": None,
         "text": f"{minutes:.0f}-minute call" if minutes >= 1
         else f"{m['duration_s']:.0f}-second call"},
        {"kind": "talk_ratio", "turn_seq": None, "text": f"rep talked {m['talk_ratio']:.0%}"},
        {"kind": "questions", "turn_seq": s.questions[0]["turn_seq"] if s.questions else None,
         "text": f"{m['questions']['total']} questions asked ({m['questions']['open']} open)"},
    ]
    for o in cs:
        how = {"handled": "acknowledged and answered", "answered": "answered without "
               "acknowledgement", "open": "still open"}[o["status"]]
        again = f", raised {o['times_raised']} times" if o["times_raised"] > 1 else ""
        out.append({"kind": "objection", "label": o["label"], "turn_seq": o["turn_seq"],
                    "text": f"{o['label'].replace('_', ' ')} objection ({how}{again})"})
    for name in sorted(s.competitors):
        seq = next((mo.turn_seq for mo in s.moments
                    if mo.kind == "competitor" and mo.label == name), None)
        out.append({"kind": "competitor", "turn_seq": seq, "text": f"{name} mentioned"})
    buying = [mo for mo in s.moments if mo.kind == "buying_signal" and not mo.quiet]
    if buying:
        out.append({"kind": "buying_signal", "turn_seq": buying[0].turn_seq,
                    "text": f"{len(buying)} buying signal{'s' if len(buying) > 1 else ''}"})
    if agreed:
        out.append({"kind": "next_step", "turn_seq": agreed[-1]["turn_seq"],
                    "text": f"next step agreed: \"{_clip(agreed[-1]['text'])}\""})
    else:
        out.append({"kind": "next_step", "turn_seq": None, "text": "no next step agreed"})
    out.append({"kind": "score", "turn_seq": None,
                "text": f"overall score {scores['overall']}/100"})
    return out


def _clip(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def summary(cl: list[dict[str, Any]]) -> str:
    parts = [c["text"] for c in cl if c["kind"] != "score"]
    last = next(c["text"] for c in cl if c["kind"] == "score")
    return "; ".join(parts) + f". {last[0].upper() + last[1:]}."


def action_items(session: CoachSession, agreed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Follow-ups someone said they would do, plus every agreed next step."""
    items = list(session.s.action_items)
    seen = {a["turn_seq"] for a in items}
    for ns in agreed:
        if ns["turn_seq"] not in seen:
            items.append({"owner": ns["speaker"], "text": ns["text"], "turn_seq": ns["turn_seq"],
                          "agreed_next_step": True})
    return sorted(items, key=lambda a: a["turn_seq"])


def build_report(session: CoachSession) -> CallReport:
    s = session.s
    cs = concerns(session)
    agreed = agreed_next_steps(session)
    tg = targets(session)
    sc = score(session, agreed, tg)
    cl = claims(session, sc, cs, agreed)
    return CallReport(
        scores=sc, metrics=session.metrics(), timeline=list(s.timeline),
        moments=[mo.to_dict() for mo in s.moments], questions=list(s.questions),
        objections=cs, action_items=action_items(session, agreed), next_steps=agreed,
        tips=tips(session, sc, cs, agreed, tg), summary=summary(cl),
        nudges=[n.to_dict() for n in s.nudges], customer_questions=list(s.customer_questions),
        unanswered_questions=list(s.unanswered), claims=cl, targets=tg,
    )
