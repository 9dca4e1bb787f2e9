"""End-of-call report: scores 0-100, timeline, moments, objections, next steps, tips, summary.

Scores (see docs/coach.md for the exact formulas):
- discovery: questions vs the playbook target, share of open questions, checklist coverage;
- listening: talk ratio near target, longest monologue, interruptions, unanswered questions;
- objection_handling: acknowledged, paused, clarified with a question (75 when none raised);
- next_steps: next step agreed, action items, buying signals followed up;
- delivery: pace, fillers, risky/negative language, jargon;
- overall: weighted mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugin.coach.session import CoachSession

WEIGHTS = {"discovery": 0.25, "listening": 0.25, "objection_handling": 0.2,
           "next_steps": 0.15, "delivery": 0.15}
NO_OBJECTIONS_SCORE = 75


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "scores": dict(self.scores), "metrics": self.metrics,
            "timeline": list(self.timeline), "moments": list(self.moments),
            "questions": list(self.questions), "objections": list(self.objections),
            "action_items": list(self.action_items), "next_steps": list(self.next_steps),
            "tips": list(self.tips), "summary": self.summary, "nudges": list(self.nudges),
            "customer_questions": list(self.customer_questions),
            "unanswered_questions": list(self.unanswered_questions),
        }


def _clamp(x: float) -> int:
    return int(round(max(0.0, min(100.0, x))))


def _closeness(value: float, target: float, worst: float) -> float:
    """1 at target, 0 at ``worst`` distance or beyond."""
    return max(0.0, 1.0 - abs(value - target) / worst)


def score(session: CoachSession) -> dict[str, int]:
    s, th, m = session.s, session.playbook.thresholds, session.metrics()
    n_q = m["questions"]["total"]
    open_share = m["questions"]["open"] / n_q if n_q else 0.0
    q_fit = min(1.0, n_q / th.questions_target_min) if th.questions_target_min else 1.0
    if n_q > th.questions_target_max * 2:  # interrogation, not discovery
        q_fit *= 0.8
    items = [i.id for i in session.playbook.checklist if i.id != "next_step"]
    coverage = sum(1 for i in items if i in s.checklist) / len(items) if items else 1.0
    discovery = 100 * (0.45 * q_fit + 0.2 * open_share + 0.35 * coverage)

    if s.turns:
        ratio_fit = _closeness(m["talk_ratio"], th.talk_ratio_target, 0.45)
        mono_fit = max(0.0, 1.0 - max(0.0, m["longest_monologue_s"] - th.monologue_nudge_s)
                       / (th.pitch_too_long_s * 2))
        listening = 100 * (0.55 * ratio_fit + 0.25 * mono_fit + 0.2) \
            - 8 * m["interruptions"] - 10 * m["unanswered_questions"]
    else:
        listening = 0.0

    if s.objections:
        per = []
        for o in s.objections:
            if o.response is None:
                per.append(0.2)
                continue
            pts = 0.2 + 0.4 * bool(o.acknowledged) + 0.2 * bool(o.asked_question)
            paused = o.pause_ms is None or o.pause_ms >= th.pause_after_objection_ms * 0.5
            pts += 0.2 * paused  # unknown pause (untimed text) is not held against the rep
            per.append(pts)
        objection_handling = 100 * sum(per) / len(per)
    else:
        objection_handling = NO_OBJECTIONS_SCORE

    agreed = "next_step" in s.checklist or bool(s.next_steps)
    rep_actions = any(a["owner"] == "rep" for a in s.action_items)
    buying = sum(1 for mo in s.moments if mo.kind == "buying_signal")
    next_steps = 100 * (0.6 * agreed + 0.25 * rep_actions + 0.15 * (buying > 0 or agreed))

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


def tips(session: CoachSession, scores: dict[str, int]) -> list[str]:
    """1-3 coaching tips for the weakest areas, most important first."""
    s, th, m = session.s, session.playbook.thresholds, session.metrics()
    cands: list[tuple[float, str]] = []
    if m["talk_ratio"] > th.talk_ratio_warn:
        cands.append((scores["listening"], f"You talked {m['talk_ratio']:.0%} of the call; aim "
                      f"for about {th.talk_ratio_target:.0%} by asking more open questions."))
    if m["longest_monologue_s"] > th.monologue_nudge_s:
        cands.append((scores["listening"] + 1, f"Your longest monologue ran "
                      f"{m['longest_monologue_s']:.0f} s; check in with a question every minute."))
    if m["questions"]["total"] < th.questions_target_min:
        cands.append((scores["discovery"], f"You asked {m['questions']['total']} questions; "
                      f"top calls have {th.questions_target_min}-{th.questions_target_max}."))
    missing = [i.label for i in session.playbook.checklist
               if i.id not in s.checklist and i.id != "next_step"]
    if missing:
        cands.append((scores["discovery"] + 2,
                      f"Cover {', '.join(missing[:3]).lower()} in discovery next time."))
    unack = [o for o in s.objections if o.response is not None and not o.acknowledged]
    if unack:
        cands.append((scores["objection_handling"], f"Acknowledge objections before answering "
                      f"({len(unack)} of {len(s.objections)} were answered straight away)."))
    if not ("next_step" in s.checklist or s.next_steps):
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


def summary(session: CoachSession, scores: dict[str, int]) -> str:
    s, m = session.s, session.metrics()
    minutes = m["duration_s"] / 60.0
    parts = [f"{minutes:.0f}-minute call" if minutes >= 1 else f"{m['duration_s']:.0f}-second "
             "call", f"rep talked {m['talk_ratio']:.0%}",
             f"{m['questions']['total']} questions asked ({m['questions']['open']} open)"]
    if s.objections:
        labels = sorted({o.label.replace("_", " ") for o in s.objections})
        parts.append(f"objections: {', '.join(labels)}")
    if s.competitors:
        parts.append(f"competitors mentioned: {', '.join(sorted(s.competitors))}")
    buying = sum(1 for mo in s.moments if mo.kind == "buying_signal")
    if buying:
        parts.append(f"{buying} buying signal{'s' if buying > 1 else ''}")
    parts.append("next step agreed" if s.next_steps else "no next step agreed")
    return "; ".join(parts) + f". Overall score {scores['overall']}/100."


def build_report(session: CoachSession) -> CallReport:
    s = session.s
    sc = score(session)
    return CallReport(
        scores=sc, metrics=session.metrics(), timeline=list(s.timeline),
        moments=[mo.to_dict() for mo in s.moments], questions=list(s.questions),
        objections=[o.to_dict() for o in s.objections], action_items=list(s.action_items),
        next_steps=list(s.next_steps), tips=tips(session, sc), summary=summary(session, sc),
        nudges=[n.to_dict() for n in s.nudges], customer_questions=list(s.customer_questions),
        unanswered_questions=list(s.unanswered),
    )
