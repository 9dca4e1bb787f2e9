"""The local buyer that listens: a dialogue manager over the scenario's state machine.

``read_reply`` turns one judged reply (the coach engine's reading plus the practice flaws)
into what the buyer hears: the questions asked, whether the concern was acknowledged, the
discounts and other offers made, and the flaws. ``respond`` then answers the rep's questions
from the persona's facts, takes an offered discount literally, reacts in character to a flaw,
escalates (patience) or softens by what was said, and keeps every line grounded: a sentence
that asserts an offer (a pilot, a discount, a day) the rep never made is not said.

Pure and deterministic: the same scenario, state (including its ``seed``) and reading give the
same line.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from plugin.practice.buyer import (
    CLOSING,
    Quality,
    advance,
    current_stage,
    join,
    pick,
    soften,
)
from plugin.practice.flaws import offered_discounts
from plugin.practice.flaws import sentences as split_sentences
from plugin.practice.scenarios import PersonaFact, Scenario

MAX_SAID = 30  # rep replies kept in the state for grounding
# Things a buyer line could claim the rep offered; the rep must have said them first.
OFFER_TERMS = (
    "pilot", "trial", "workshop", "discount", "% off", "percent off", "credit", "credited",
    "free", "refund", "review", "reference", "case study", "csm", "success manager",
    "success plan", "certif", "soc 2", "nda", "whitepaper", "deep dive", "setup call",
    "invite", "agenda", "order form", "two-year", "two years", "termination", "exit clause",
    "monday", "tuesday", "wednesday", "thursday", "friday", "tomorrow", "next week",
    "in writing", "guarantee",
)
_NUMBERISH = re.compile(r"\$\s?\d[\d,]*|\d+(?:\.\d+)?\s*%")


def read_reply(text: str, feedback: Any) -> dict[str, Any]:
    """What the buyer hears in one reply, from its feedback (``scoring.Feedback``)."""
    analysis = feedback.analysis or {}
    questions = [str(q.get("text", "")) for q in analysis.get("questions", [])]
    return {
        "text": text,
        "questions": [q for q in questions if q][:3],
        "acknowledged": bool(analysis.get("acknowledges")),
        "discounts": offered_discounts(text),
        "flaws": [{"kind": f["kind"], "evidence": f["evidence"]} for f in feedback.flaws],
        "words": int(analysis.get("word_count") or len(text.split())),
    }


def _terms(text: str) -> set[str]:
    t = " " + " ".join(text.lower().replace("\u2019", "'").split()) + " "
    found = {term for term in OFFER_TERMS if term in t}
    found |= {m.group(0).replace(" ", "") for m in _NUMBERISH.finditer(t)}
    return found


def grounded(line: str, said: list[str], own: list[str]) -> bool:
    """True when every offer-like term in ``line``'s statements was said by the rep (``said``)
    or is the buyer's own material (``own``: its facts, phrasings, probes). Questions may
    mention anything: asking is not asserting."""
    spoken = _terms(" ".join(said)) | _terms(" ".join(own))
    for sent in split_sentences(line):
        if sent.rstrip().endswith("?"):
            continue
        if _terms(sent) - spoken:
            return False
    return True


def own_lines(scenario: Scenario) -> list[str]:
    """What the buyer may say of its own accord: opening, objections, probes, facts."""
    out = [scenario.opening, scenario.closing.ask, scenario.closing.walkout,
           *[f.answer for f in scenario.persona.facts]]
    for o in scenario.objections:
        out += o.phrasings + [kp.probe for kp in o.key_points]
    out += [kp.probe for kp in scenario.closing.key_points]
    return out


def _safe(options: list[str] | tuple[str, ...], fallback: str, said: list[str],
          own: list[str], *key: Any) -> str:
    """A line from ``options`` that is grounded (tried from the seeded pick on), else
    ``fallback``."""
    opts = list(options)
    if not opts:
        return fallback
    first = opts.index(pick(opts, *key))
    for i in range(len(opts)):
        cand = opts[(first + i) % len(opts)]
        if grounded(cand, said, own):
            return cand
    return fallback


def answer(scenario: Scenario, question: str) -> PersonaFact | None:
    """The persona fact a question asks about (the longest matching ``about`` phrase wins)."""
    q = " " + " ".join(question.lower().replace("\u2019", "'").split())
    best: tuple[int, PersonaFact] | None = None
    for fact in scenario.persona.facts:
        for phrase in fact.about:
            if re.search(r"(?<![a-z0-9])" + re.escape(phrase.lower()), q) and (
                    best is None or len(phrase) > best[0]):
                best = (len(phrase), fact)
    return best[1] if best else None


_FLAW_LINES = {
    "badmouth": ("I'd rather you didn't run them down. Tell me what you do better.",
                 "Knocking the other side doesn't help your case.",
                 "That's not how I like vendors to talk. Stick to your product."),
    "unsupported_claim": ("That's not in anything you've sent me. Can you show it in writing?",
                          "I'll be checking that claim, you know.",
                          "Where does that come from? I haven't seen it documented."),
    "guarantee": ("A guarantee? Then I'll want it in the contract.",
                  "Nobody can promise that. What can you actually commit to?"),
    "pushy_close": ("I don't respond well to pressure.",
                    "I'm not going to be rushed into this.",
                    "Let's not push. I decide on my timeline."),
    "off_topic": ("Let's stay on the topic, please.", "That's not what I asked."),
    "one_word": ("That's it? I need more than that.", "Can you say a bit more than that?"),
}


def respond(scenario: Scenario, state: dict[str, Any], quality: Quality,
            covered: list[str] | set[str], risky: bool, score: int | None,
            reading: dict[str, Any]) -> dict[str, Any]:
    """``buyer.respond`` for a reply the buyer has heard in full (see the module docstring)."""
    if state.get("ended"):
        raise ValueError("the buyer has already ended this session")
    new = copy.deepcopy(state)
    new.setdefault("seed", 0)
    said: list[str] = list(new.get("said", []))
    text = str(reading.get("text", ""))
    if text:
        said = (said + [text[:2000]])[-MAX_SAID:]
    new["said"] = said
    offers: list[dict[str, Any]] = list(new.get("offers", []))
    own = own_lines(scenario)
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
    key = (scenario.id, stage.id, new["attempt"], new["turn"], new["seed"])

    # What the buyer says back to what it heard, before its own move.
    heard: list[str] = []
    answered = 0
    for q in reading.get("questions", [])[:2]:
        fact = answer(scenario, q)
        if fact is not None and fact.answer not in heard:
            heard.append(fact.answer)
            answered += 1
    flaw_kinds = [f["kind"] for f in reading.get("flaws", [])]
    for pct in reading.get("discounts", []):
        offers.append({"discount_pct": pct, "turn": new["turn"]})
        if pct > scenario.product.max_discount_pct:
            heard.append(f"{_pct(pct)} off? I'll take that, and I'll want it in writing.")
        else:
            heard.append(f"Noted: {_pct(pct)} off.")
    new["offers"] = offers
    for kind in dict.fromkeys(flaw_kinds):
        if kind == "discount" and reading.get("discounts"):
            continue  # already taken literally above
        if kind == "discount":
            heard.append("So you're offering that? I'll hold you to it.")
        elif kind == "guarantee":
            heard.append(style.risky if grounded(style.risky, said, own)
                         else pick(_FLAW_LINES["guarantee"], *key))
        elif kind in _FLAW_LINES:
            heard.append(pick(_FLAW_LINES[kind], *key))
    if reading.get("questions") and not answered and not flaw_kinds:
        heard.append(pick(("I'd rather not get into that yet.",
                           "That's not something I'll share at this stage.",
                           "Let's not go there yet."), *key))
    flawed = bool(flaw_kinds) or risky
    # Softens: acknowledged and asked a question the buyer could answer.
    engaged = bool(reading.get("acknowledged")) and answered > 0 and not flawed

    handled = len(merged) >= stage.needed and quality != "weak" and not flawed
    if handled:
        result["status"] = "handled"
        if stage.id == CLOSING:
            agreed = _safe([stage.good[0]], "Fine, let's do that. Send me the details.",
                           said, own, *key)
            new.update(ended=True, outcome="next_step_agreed", line=join(*heard, agreed))
            return new
        reaction = join(_safe(style.accept, "Okay.", said, own, *key),
                        _safe(stage.good, "That answers it.", said, own, *key))
        out = advance(scenario, new, join(*heard, reaction))
        return out

    if (quality == "weak" or flawed) and not engaged:
        new["patience"] = int(new["patience"]) - 1
        if new["patience"] <= 0:
            result["status"] = "unresolved"
            new.update(ended=True, outcome="buyer_ended", line=join(
                *heard, _safe(stage.weak, "", said, own, *key), scenario.closing.walkout))
            return new
    if new["attempt"] >= scenario.max_attempts and stage.id != CLOSING:
        result["status"] = "parked"
        return advance(scenario, new, join(*heard, soften(scenario, key)))

    missing = [k for k in stage.key_points if k.id not in merged]
    if (quality == "weak" or flawed) and not engaged:
        new["pressure"] = min(int(new["pressure"]) + 1, len(stage.phrasings) - 1)
        pressed = stage.phrasings[new["pressure"]]
        if stage.id == CLOSING and missing:
            pressed = missing[0].probe
        line = join(*heard, pick(style.press, *key), _safe(stage.weak, "", said, own, *key),
                    pressed, style.impatient if new["patience"] == 1 else "")
    else:
        facts = [k for k in missing if not k.examples[0].rstrip().endswith("?")]
        probe = (facts or missing)[0].probe if missing else stage.phrasings[-1]
        lead = "" if engaged and heard else _safe(stage.partial, "", said, own, *key)
        line = join(*heard, lead, probe)
    new["line"] = line
    return new


def _pct(value: float) -> str:
    return f"{value:g}%"
