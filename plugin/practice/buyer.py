"""The simulated buyer: a deterministic state machine that plays a scenario's persona.

Given the same scenario and the same judged replies it always says the same thing, so
sessions can be replayed, tested and compared. State is a plain JSON-able dict (stored on
``PracticeSession.state``); ``respond`` returns a new dict and never mutates its input.

Rules: a good answer (enough key points, not weak, no risky promise) closes the current
objection and the buyer concedes and moves on; a partial answer gets a probe about the first
missing key point; a weak one costs patience and brings the next, sharper phrasing. After
``max_attempts`` tries an objection is parked (the buyer softens and moves on, unresolved).
When patience runs out the buyer ends the call; after the objections the buyer asks for a
next step, and agreeing a concrete one ends the session well.

Given a ``reading`` of the reply (what the rep asked, offered and got wrong, see
``plugin.practice.dialogue``) the buyer also listens: it answers the rep's questions from the
persona's facts, takes an offered discount literally, reacts to each flaw in character, softens
when the rep acknowledged and asked, and never voices a line that asserts an offer the rep did
not make (``dialogue.grounded``). ``seed`` varies the wording, deterministically.
"""

from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from plugin.practice.scenarios import Closing, KeyPoint, Objection, Scenario

Quality = Literal["good", "partial", "weak"]
CLOSING = "closing"


@dataclass(frozen=True, slots=True)
class Stage:
    """The point the buyer is waiting on: an objection, or the closing ask."""

    id: str
    type: str
    phrasings: tuple[str, ...]
    key_points: tuple[KeyPoint, ...]
    needed: int
    acknowledge: str
    confirm: str
    good: tuple[str, ...]
    partial: tuple[str, ...]
    weak: tuple[str, ...]


def _objection_stage(o: Objection) -> Stage:
    return Stage(o.id, o.type, tuple(o.phrasings), tuple(o.key_points), o.needed, o.acknowledge,
                 o.confirm, tuple(o.reactions.good), tuple(o.reactions.partial),
                 tuple(o.reactions.weak))


def _closing_stage(c: Closing) -> Stage:
    probes = tuple(k.probe for k in c.key_points)
    return Stage(CLOSING, "next_step", (c.ask, *probes), tuple(c.key_points), len(c.key_points),
                 c.acknowledge, c.confirm, (c.agreed,), (), ())


def stage_of(scenario: Scenario, index: int) -> Stage:
    """Stage ``index``: the objections in order, then the closing."""
    if index < len(scenario.objections):
        return _objection_stage(scenario.objections[index])
    return _closing_stage(scenario.closing)


def pick(lines: tuple[str, ...] | list[str], *key: Any) -> str:
    """A deterministic choice among ``lines`` (stable across processes, unlike hash())."""
    if not lines:
        return ""
    return lines[zlib.crc32(":".join(map(str, key)).encode()) % len(lines)]


def join(*parts: str) -> str:
    """Sentences joined with spaces; after a lead-in ending in a comma ("With respect,") the
    next part continues the sentence, so its first letter is lower-cased (not "I")."""
    out: list[str] = []
    for p in (p.strip() for p in parts if p and p.strip()):
        if out and out[-1].endswith(",") and not p.startswith(("I ", "I'")):
            p = p[0].lower() + p[1:]
        out.append(p)
    return " ".join(out)


def initial_state(scenario: Scenario, seed: int = 0) -> dict[str, Any]:
    """The buyer before the first reply: the opening line, then the first objection."""
    first = stage_of(scenario, 0)
    results: list[dict[str, Any]] = [
        {"id": o.id, "type": o.type, "status": "not_reached", "attempts": 0, "covered": [],
         "best_score": None} for o in scenario.objections]
    results.append({"id": CLOSING, "type": "next_step", "status": "not_reached", "attempts": 0,
                    "covered": [], "best_score": None})
    results[0]["status"] = "open"
    return {
        "scenario_id": scenario.id, "stage": 0, "attempt": 0, "pressure": 0,
        "patience": scenario.patience, "covered": [], "ended": False, "outcome": "",
        "turn": 0, "line": join(scenario.opening, first.phrasings[0]), "results": results,
        "seed": int(seed), "said": [], "offers": [],
    }


def current_stage(scenario: Scenario, state: dict[str, Any]) -> Stage:
    return stage_of(scenario, int(state["stage"]))


def respond(scenario: Scenario, state: dict[str, Any], quality: Quality,
            covered: list[str] | set[str], risky: bool = False,
            score: int | None = None, reading: dict[str, Any] | None = None) -> dict[str, Any]:
    """The buyer's reaction to one judged reply: a new state whose ``line`` is what it says.

    ``covered``: key point ids the reply covered (merged with earlier tries at this stage);
    ``risky``: the reply made a promise the buyer distrusts; ``score``: overall 0..100,
    kept as the stage's best; ``reading``: what the reply asked, offered and got wrong
    (``dialogue.read_reply``), which makes the buyer answer what was said.
    """
    from plugin.practice import dialogue

    if reading is not None:
        return dialogue.respond(scenario, state, quality, covered, risky, score, reading)
    if state.get("ended"):
        raise ValueError("the buyer has already ended this session")
    new = copy.deepcopy(state)
    stage = current_stage(scenario, new)
    style = scenario.persona.style
    idx = int(new["stage"])
    result = new["results"][idx]
    new["turn"] = int(new["turn"]) + 1
    new["attempt"] = int(new["attempt"]) + 1
    result["attempts"] = new["attempt"]
    if score is not None and (result["best_score"] is None or score > result["best_score"]):
        result["best_score"] = score
    valid = {k.id for k in stage.key_points}
    merged = sorted(set(new["covered"]) | (set(covered) & valid))
    new["covered"] = merged
    result["covered"] = merged
    key = (scenario.id, stage.id, new["attempt"], new["turn"])
    risky_line = style.risky if risky else ""

    handled = len(merged) >= stage.needed and quality != "weak" and not risky
    if handled:
        result["status"] = "handled"
        if stage.id == CLOSING:
            new.update(ended=True, outcome="next_step_agreed",
                       line=join(risky_line, stage.good[0]))
            return new
        reaction = join(pick(style.accept, *key), pick(stage.good, *key))
        return advance(scenario, new, reaction)

    if quality == "weak" or risky:
        new["patience"] = int(new["patience"]) - 1
        if new["patience"] <= 0:
            result["status"] = "unresolved"
            new.update(ended=True, outcome="buyer_ended",
                       line=join(risky_line, pick(stage.weak, *key), scenario.closing.walkout))
            return new
    if new["attempt"] >= scenario.max_attempts and stage.id != CLOSING:
        result["status"] = "parked"
        return advance(scenario, new, join(risky_line, soften(scenario, key)))

    missing = [k for k in stage.key_points if k.id not in merged]
    if quality == "weak" or risky:
        new["pressure"] = min(int(new["pressure"]) + 1, len(stage.phrasings) - 1)
        pressed = stage.phrasings[new["pressure"]]
        if stage.id == CLOSING and missing:
            pressed = missing[0].probe
        line = join(risky_line, pick(style.press, *key), pick(stage.weak, *key), pressed,
                     style.impatient if new["patience"] == 1 else "")
    else:
        # Ask first for what the buyer wants to hear (facts), then for the rep's questions.
        facts = [k for k in missing if not k.examples[0].rstrip().endswith("?")]
        probe = (facts or missing)[0].probe if missing else stage.phrasings[-1]
        line = join(pick(stage.partial, *key), probe)
    new["line"] = line
    return new


def soften(scenario: Scenario, key: tuple[Any, ...]) -> str:
    return pick(("Let's park that for now.", "Okay, let's leave that there for today.",
                  "We're going in circles. Let's move on."), *key)


def advance(scenario: Scenario, state: dict[str, Any], reaction: str) -> dict[str, Any]:
    """Move to the next stage and voice its opening line after ``reaction``."""
    state["stage"] = int(state["stage"]) + 1
    state.update(attempt=0, pressure=0, covered=[])
    nxt = current_stage(scenario, state)
    state["results"][state["stage"]]["status"] = "open"
    state["line"] = join(reaction, nxt.phrasings[0])
    return state


def finish(state: dict[str, Any]) -> dict[str, Any]:
    """The rep ends the session: open stages become unresolved."""
    new = copy.deepcopy(state)
    if not new.get("ended"):
        new.update(ended=True, outcome="rep_finished")
    for r in new["results"]:
        if r["status"] == "open":
            r["status"] = "unresolved"
    return new
