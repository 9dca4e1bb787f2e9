"""Free-form drills: any customer line, the rep's answer, feedback at once, try again.

A drill has no script: the coach engine reads the customer line (its objection type), which
picks the scenario whose facts and key points fit (or the one the rep chose), and the stage of
it closest to the line; the answer is then scored like a practice reply to that line. A retry
names its previous attempt, and the feedback says what changed.
"""

from __future__ import annotations

from typing import Any

from plugin.practice.buyer import Stage, stage_of
from plugin.practice.scenarios import Scenario, library
from plugin.practice.scoring import Feedback, Meaning, score_reply

# The coach engine's objection type of the customer's line -> the scenario that trains it.
SCENARIO_FOR_TYPE = {
    "price": "procurement-price", "budget": "procurement-price", "competitor":
    "competitor-comparison", "timing": "timing-stall", "technical": "technical-evaluator",
    "security": "technical-evaluator", "need": "cfo-discovery", "status_quo": "cfo-discovery",
    "authority": "cfo-discovery", "trust": "renewal-at-risk", "gatekeeper":
    "gatekeeper-cold-call",
}


def drill_target(customer_line: str, playbook: Any, meaning: Meaning,
                 scenario: Scenario | None = None) -> tuple[Scenario, Stage, str | None]:
    """The scenario and stage a drill line is scored against, and the line's objection type
    (from the coach engine)."""
    from plugin.coach import analyse_utterance

    a = analyse_utterance(customer_line, "customer", playbook,
                          use_embeddings=None if meaning.available else False)
    kind = a.objection
    if scenario is None:
        scenario = library().get(SCENARIO_FOR_TYPE.get(kind or "", ""), None) \
            or _closest_scenario(customer_line, meaning)
    stages = [stage_of(scenario, i) for i in range(len(scenario.objections) + 1)]
    typed = [st for st in stages if kind and st.type == kind]
    if len(typed) == 1:
        return scenario, typed[0], kind
    candidates = typed or stages
    sims = meaning.similarity([customer_line], [st.phrasings[0] for st in candidates])
    best = int(sims[0].argmax()) if meaning.available else 0
    return scenario, candidates[best], kind


def _closest_scenario(line: str, meaning: Meaning) -> Scenario:
    scenarios = list(library().values())
    if not meaning.available:
        return library()["cfo-discovery"]
    texts = [" ".join(o.phrasings[0] for o in s.objections) for s in scenarios]
    sims = meaning.similarity([line], texts)
    return scenarios[int(sims[0].argmax())]


def score_drill(customer_line: str, reply: str, playbook: Any, meaning: Meaning,
                scenario: Scenario | None = None) -> tuple[Feedback, Scenario, Stage, str | None]:
    scenario, stage, kind = drill_target(customer_line, playbook, meaning, scenario)
    fb = score_reply(reply, scenario, stage, customer_line, set(), playbook, meaning)
    return fb, scenario, stage, kind


def change(previous: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, Any] | None:
    """What changed from the previous attempt: score deltas, flaws fixed and new, key points
    now covered."""
    if not previous:
        return None
    delta = {d: now[d]["score"] - previous[d]["score"] for d in ("tone", "content", "strategy")}
    delta["overall"] = now["overall"] - previous["overall"]
    before = {f["kind"] for f in previous.get("flaws", [])}
    after = {f["kind"] for f in now.get("flaws", [])}
    return {"delta": delta, "fixed_flaws": sorted(before - after),
            "new_flaws": sorted(after - before),
            "newly_covered": sorted(set(now["covered"]) - set(previous.get("covered", []))),
            "previous_overall": previous["overall"]}
