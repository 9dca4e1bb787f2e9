"""Feedback on one practice reply: tone, content and strategy (0–100 each, with a reason),
plus an improved version of the reply.

The language signals (tone, questions, acknowledgement, risky and negative phrasing) come
from the coach engine's ``analyse_utterance``; meaning comes from the shared MiniLM
``Embedder``. This module only adds what is specific to practice: which of the scenario's
key points the reply covers, whether its figures match the scenario's facts, and how the
pieces map onto acknowledge → clarify → respond → confirm.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from plugin.practice.buyer import CLOSING, Stage
from plugin.practice.flaws import (
    ADVICE,
    CAPS,
    LABELS,
    OTHERS,
    Flaw,
    find_flaws,
    sentence_flaws,
)
from plugin.practice.flaws import sentences as split_sentences
from plugin.practice.scenarios import KeyPoint, Scenario

Quality = Literal["good", "partial", "weak"]

# Cosine similarity (MiniLM) at which a reply sentence counts as expressing a key point's
# example; calibrated on the shipped scenarios (paraphrases ~0.6–0.8, unrelated < 0.35).
MEANING_THRESHOLD = 0.58
# Labels are bands of the overall score (a label never contradicts its score).
GOOD_OVERALL = 70
WEAK_OVERALL = 45
# A reply that leaves needed key points out can't be good; a closing without a next step
# neither.
INCOMPLETE_CAP = 69
# No key point and no question: vague at best (rubric band 25-44).
NOTHING_CAP = 40
# A flawed reply scores its cap only when the rest of it would score FLAW_FULL or more, and
# each further kind of flaw takes FLAW_EXTRA more off (chosen on the development set).
FLAW_FULL = 80
FLAW_EXTRA = 5
# What each flaw does to each dimension (at most), chosen on the development set.
DIMENSION_CAPS: dict[str, dict[str, int]] = {
    "badmouth": {"tone": 30, "content": 40},
    "unsupported_claim": {"content": 25},
    "discount": {"content": 25, "strategy": 40},
    "guarantee": {"content": 30},
    "pushy_close": {"tone": 45, "strategy": 20},
    "off_topic": {"content": 10, "strategy": 15},
    "one_word": {"tone": 30, "content": 10, "strategy": 10},
}

_MONEY = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)\s*(k\b)?", re.IGNORECASE)
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*(?:%|percent\b|per cent\b)", re.IGNORECASE)
# A percentage offered off the price: "10% off", "a 15 percent discount", "discount of 20%".
_DISCOUNT_AFTER = re.compile(r"^\s*(?:off\b|discount|reduction|lower price|cheaper)", re.IGNORECASE)
_DISCOUNT_BEFORE = re.compile(r"(?:discount|take|knock|price cut)\s*(?:of|by)?\s*(?:up to\s*)?$",
                              re.IGNORECASE)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_WHEN = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|tomorrow|today|this week|"
                   r"next week|\d{1,2}(?::\d\d)?\s*(?:am|pm))\b", re.IGNORECASE)
_NEXT_STEP = re.compile(
    r"\b(schedule|book|calendar|invite|next (?:week|step)|monday|tuesday|wednesday|thursday|"
    r"friday|tomorrow|pilot|kick ?off|send you|i'll send|set up a|follow up on)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Dimension:
    score: int
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Feedback:
    """Everything the rep sees about one reply (``to_dict`` is stored as the reply's scores)."""

    tone: Dimension
    content: Dimension
    strategy: Dimension
    overall: int
    quality: Quality
    covered: list[str]
    missing: list[str]
    risky: bool
    improved: str
    analysis: dict[str, Any]
    flaws: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sentences(text: str) -> list[str]:
    return split_sentences(text)


def _norm(text: str) -> str:
    t = " ".join(text.lower().replace("\u2019", "'").split())
    return re.sub(r"(\d)\s+%", r"\1%", t)


def keyword_hit(text: str, kp: KeyPoint) -> str | None:
    """The first of ``kp.keywords`` found in ``text`` (phrase, starting on a word boundary)."""
    t = _norm(text)
    for kw in kp.keywords:
        if re.search(r"(?<![a-z0-9])" + re.escape(_norm(kw)), t):
            return kw
    return None


class Meaning:
    """Sentence similarity through the shared embedder, or none when it is unavailable."""

    def __init__(self, enabled: bool = True) -> None:
        self._embedder: Any = None
        if enabled:
            from plugin.nlp.embeddings import Embedder

            if Embedder.available():
                self._embedder = Embedder.get()

    @property
    def available(self) -> bool:
        return self._embedder is not None

    def similarity(self, a: list[str], b: list[str]) -> np.ndarray:
        """(len(a), len(b)) cosine similarities; zeros without an embedder."""
        if self._embedder is None or not a or not b:
            return np.zeros((len(a), len(b)), dtype=np.float32)
        va = self._embedder.encode(a)
        vb = self._embedder.encode(b)
        return np.asarray(va @ vb.T)


@dataclass(frozen=True, slots=True)
class Coverage:
    covered: dict[str, str]  # key point id -> how ("keyword 'x'" / "meaning 0.71")
    kept: list[str]  # the rep's sentences that carried a key point
    relevance: float  # 0..1: how much the reply is about the buyer's point


def cover(reply: str, stage: Stage, buyer_line: str, meaning: Meaning) -> Coverage:
    """Which key points of ``stage`` the reply covers, by keyword or by meaning."""
    sents = sentences(reply) or [reply]
    covered: dict[str, str] = {}
    kept: list[str] = []
    examples = [(kp.id, ex) for kp in stage.key_points for ex in kp.examples]
    sims = meaning.similarity(sents, [ex for _, ex in examples])
    for kp in stage.key_points:
        hit = keyword_hit(reply, kp)
        if hit:
            covered[kp.id] = f"keyword '{hit}'"
            kept += [s for s in sents if keyword_hit(s, kp)]
    if meaning.available:
        for j, (kp_id, _ex) in enumerate(examples):
            col = sims[:, j]
            best = int(col.argmax())
            if col[best] >= MEANING_THRESHOLD:
                covered.setdefault(kp_id, f"meaning {float(col[best]):.2f}")
                kept.append(sents[best])
        rel = float(meaning.similarity([reply], [buyer_line])[0, 0])
        best_kp = float(sims.max()) if sims.size else 0.0
        relevance = max(_clamp((rel - 0.1) / 0.45), _clamp((best_kp - 0.2) / 0.45))
    else:
        overlap = _words(reply) & (_words(buyer_line) | {w for _, e in examples for w in _words(e)})
        relevance = _clamp(len(overlap) / 6)
    if covered:
        relevance = max(relevance, 0.6)
    seen: set[str] = set()
    kept = [s for s in kept if not (s in seen or seen.add(s))]  # type: ignore[func-returns-value]
    return Coverage(covered, kept, round(relevance, 3))


_STOP = frozenset({
    "the", "a", "an", "and", "or", "but", "to", "of", "in", "on", "for", "with", "at", "by",
    "from", "is", "are", "was", "were", "be", "it", "this", "that", "we", "you", "i", "they",
    "our", "your", "my", "me", "us", "them", "what", "how", "why", "can", "could", "would",
    "will", "do", "does",
})


def _words(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in _STOP and len(w) > 2}


def _clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, x))


def _facts_numbers(scenario: Scenario) -> set[float]:
    """Every figure the scenario states (prices, percentages), which the rep may quote."""
    text = " ".join([*scenario.product.pricing, *scenario.product.value_points, scenario.summary]
                    + [ex for o in scenario.objections for kp in o.key_points for ex in kp.examples]
                    + [ex for kp in scenario.closing.key_points for ex in kp.examples])
    out = set()
    for m in _NUMBER.finditer(text):
        out.add(float(m.group(0).replace(",", "")))
    return out


def inaccuracies(reply: str, scenario: Scenario) -> list[str]:
    """Prices and percentages in ``reply`` that the scenario's facts do not support."""
    facts = _facts_numbers(scenario)
    problems = []
    for m in _MONEY.finditer(reply):
        value = float(m.group(1).replace(",", "")) * (1000 if m.group(2) else 1)
        if value not in facts:
            problems.append(f"${m.group(1)}{m.group(2) or ''} is not in the price list")
    for m in _PERCENT.finditer(reply):
        value = float(m.group(1))
        is_discount = bool(_DISCOUNT_AFTER.match(reply[m.end(): m.end() + 20])
                           or _DISCOUNT_BEFORE.search(reply[max(0, m.start() - 25): m.start()]))
        if is_discount:
            if value > scenario.product.max_discount_pct:
                problems.append(f"{m.group(0)} discount exceeds the "
                                f"{scenario.product.max_discount_pct}% policy")
        elif value not in facts:
            problems.append(f"{m.group(0)} is not a figure the product facts support")
    return problems


def _tone(a: Any) -> Dimension:
    t = a.tone
    warmth, conf, hedge, neg = (float(t.get(k, 0.0)) for k in
                                ("warmth", "confidence", "hedging", "negativity"))
    fillers = list(a.fillers)
    raw = 0.3 * warmth + 0.35 * conf + 0.2 * (1 - hedge) + 0.15 * (1 - neg)
    raw -= min(0.15, 0.04 * len(fillers))
    score = round(100 * _clamp(raw / 0.85))
    if a.negative:
        reason = f"Negative phrasing ('{a.negative[0]}'); say what you can do instead."
    elif hedge >= 0.3:
        reason = "Hedging undercuts confidence; state the facts plainly."
    elif neg >= 0.35:
        reason = "Sounds negative or defensive; keep it positive and calm."
    elif fillers:
        reason = f"Filler words ({', '.join(sorted(set(fillers))[:3])}) make it sound unsure."
    elif warmth < 0.25:
        reason = "Correct but cool; show you understand their concern."
    elif conf < 0.5:
        reason = "Sounds tentative; be more direct."
    else:
        reason = "Warm and confident."
    return Dimension(score, reason, {"warmth": warmth, "confidence": conf, "hedging": hedge,
                                     "negativity": neg, "fillers": fillers})


def _is_specific(reply: str, scenario: Scenario) -> bool:
    """A figure, the product's name, or two or more words of one of its value points or
    price facts: the reply gives the buyer something concrete."""
    if _NUMBER.search(reply):
        return True
    said = _words(reply)
    if said & _words(scenario.product.name):
        return True
    return any(len(said & _words(fact)) >= 2
               for fact in [*scenario.product.value_points, *scenario.product.pricing])


def _content(reply: str, scenario: Scenario, stage: Stage, cov: Coverage, prior: set[str],
             risky: list[str]) -> tuple[Dimension, list[KeyPoint]]:
    missing = [kp for kp in stage.key_points if kp.id not in cov.covered and kp.id not in prior]
    remaining = max(1, stage.needed - len(prior & {k.id for k in stage.key_points}))
    coverage = _clamp(len(set(cov.covered) - prior) / remaining)
    wrong = inaccuracies(reply, scenario)
    specific = _is_specific(reply, scenario) or (stage.id == CLOSING and bool(_WHEN.search(reply)))
    raw = 0.2 * cov.relevance + 0.5 * coverage + 0.15 * (1.0 if specific else 0.0) \
        + 0.15 * (0.0 if wrong else 1.0)
    if risky:
        raw -= 0.25
    score = round(100 * _clamp(raw))
    if risky:
        reason = f"Risky promise: '{risky[0]}'. Offer only what you can put in writing."
    elif wrong:
        reason = f"Inaccurate: {wrong[0]}."
    elif missing and coverage < 1:
        labels = "; ".join(k.label.lower() for k in missing[:2])
        reason = f"Missing: {labels}."
    elif cov.relevance < 0.3:
        reason = "Doesn't address what the buyer asked."
    elif not specific:
        reason = "Covers the point but stays generic; add a specific figure or proof."
    else:
        reason = "Addresses the point with specific, accurate value."
    return Dimension(score, reason, {
        "relevance": cov.relevance, "covered": cov.covered, "missing": [k.id for k in missing],
        "specific": specific, "inaccuracies": wrong, "risky": risky}), missing


def _strategy(reply: str, a: Any, stage: Stage, cov: Coverage) -> Dimension:
    sents = sentences(reply)
    questions = list(a.questions)
    open_q = any(q.get("open") for q in questions)
    last_is_question = bool(sents) and sents[-1].rstrip().endswith("?")
    next_step = bool(_NEXT_STEP.search(reply)) or bool(getattr(a, "next_step", False)) or any(
        getattr(m, "kind", "") in ("next_step", "commitment") for m in a.moments)
    steps = {
        # proposing the next step answers a question, not a concern: nothing to acknowledge
        "acknowledge": bool(a.acknowledges) or stage.id == CLOSING,
        "clarify": bool(questions) or stage.id == CLOSING,
        "respond": bool(cov.covered) or cov.relevance >= 0.5,
        "confirm": last_is_question or next_step,
    }
    score = (30 * steps["acknowledge"] + (20 if open_q else 12 if questions else 0)
             + 25 * steps["respond"] + 25 * steps["confirm"])
    if stage.id == CLOSING and not next_step:
        score = min(score, 40)
        reason = "Propose a concrete next step with a date and who joins."
    elif not steps["acknowledge"]:
        reason = "Acknowledge the concern before answering it."
    elif not steps["respond"]:
        reason = "Answer the buyer's actual point after acknowledging it."
    elif not steps["clarify"]:
        reason = "Ask a question to understand what's behind the concern."
    elif not steps["confirm"]:
        reason = "Close by checking the answer landed or proposing a next step."
    else:
        reason = "Acknowledge → clarify → respond → confirm, well done."
    return Dimension(score, reason, {"steps": steps, "open_question": open_q,
                                     "next_step": next_step})


def improve(reply: str, a: Any, stage: Stage, cov: Coverage, missing: list[KeyPoint],
            risky: list[str], scenario: Scenario | None = None,
            flaws: list[Flaw] | None = None) -> str:
    """A better version in the order acknowledge → clarify → respond → confirm.

    It keeps the rep's own acknowledgement, questions, key-point and next-step sentences (any
    sentence carrying a flaw, a risky or negative phrase is dropped), adds the missing key
    points' model phrasings, and ends with the rep's closing question or the stage's. The
    result is checked again: a sentence that still carries a flaw is left out.
    """
    sents = sentences(reply)
    bad = [p.lower() for p in [*risky, *a.negative]]
    flawed = {f.sentence for f in (flaws or []) if f.sentence}
    whole = {f.kind for f in (flaws or []) if not f.sentence}
    if whole & {"one_word", "off_topic"}:
        sents = []  # nothing of a one-word or off-topic reply is worth keeping

    def clean(s: str) -> bool:
        return s not in flawed and not any(b in s.lower() for b in bad)

    first = sents[0] if sents else ""
    last = sents[-1] if len(sents) > 1 and sents[-1].endswith("?") and clean(sents[-1]) else ""
    opening = first if a.acknowledges and first and clean(first) else stage.acknowledge
    kept_set = set(cov.kept)
    actions = [s for s in sents if _NEXT_STEP.search(s) and clean(s)]
    kept = [s for s in sents if (s in kept_set or s in actions or s.endswith("?"))
            and clean(s) and s not in (opening, last)]
    questions = [s for s in kept if s.endswith("?")]
    statements = [s for s in kept if not s.endswith("?")]
    for kp in missing:
        ex = kp.examples[0].strip()
        (questions if ex.endswith("?") else statements).append(ex)
    if stage.id == CLOSING:
        closing = last or stage.confirm
    else:
        closing = last or ("" if questions and not statements else stage.confirm)
    out: list[str] = []
    for p in [opening, *questions, *statements, closing]:
        p = p.strip()
        if p and p not in out:
            out.append(p if p[-1] in ".?!" else p + ".")
    if scenario is not None:
        out = [p for p in out if not sentence_flaws(p, scenario)]
    return " ".join(out)


def score_reply(reply: str, scenario: Scenario, stage: Stage, buyer_line: str,
                prior_covered: set[str], playbook: Any, meaning: Meaning) -> Feedback:
    """Judge one reply to ``buyer_line`` at ``stage`` of ``scenario``.

    ``prior_covered``: key points of this stage already covered by earlier tries, so a
    follow-up answer is judged on what was still missing.
    """
    from plugin.coach import analyse_utterance

    pb = practice_playbook(playbook, scenario, stage)
    a = analyse_utterance(reply, "rep", pb, use_embeddings=None if meaning.available else False)
    risky = confirmed_risky([*a.risky, *playbook_risky(pb, reply)], reply, scenario)
    cov = cover(reply, stage, buyer_line, meaning)
    # at the closing a pleasantry is a missing next step, not off topic
    relevance = 1.0 if stage.id == CLOSING else cov.relevance
    flaws = find_flaws(reply, scenario, a, relevance=relevance, covered=len(cov.covered),
                       said=buyer_line)
    flaws += _coach_risks(a, risky, flaws, reply, scenario)
    kinds = {f.kind for f in flaws}
    if "one_word" in kinds or "off_topic" in kinds:
        cov = Coverage({}, [], cov.relevance)  # "Yes." can't cover a key point
    tone = _cap(_tone(a), flaws, "tone")
    content, missing = _content(reply, scenario, stage, cov, prior_covered, risky)
    content = _cap(content, flaws, "content")
    strategy = _cap(_strategy(reply, a, stage, cov), flaws, "strategy")
    overall = round(0.5 * content.score + 0.3 * strategy.score + 0.2 * tone.score)
    total = set(cov.covered) | prior_covered
    if len(total) < stage.needed or (stage.id == CLOSING and not strategy.details["next_step"]):
        overall = min(overall, INCOMPLETE_CAP)
    if not total and not a.questions and not (stage.id == CLOSING
                                              and strategy.details["next_step"]):
        overall = min(overall, NOTHING_CAP)  # on topic at best, but nothing of substance
    if flaws:
        # a flaw caps the score; the rest of the answer still orders flawed replies, and
        # each further kind of flaw costs more
        cap = min(CAPS[f.kind] for f in flaws) - FLAW_EXTRA * (len({f.kind for f in flaws}) - 1)
        overall = max(0, min(overall, round(cap * min(1.0, overall / FLAW_FULL))))
    quality = quality_of(overall)
    return Feedback(
        tone=tone, content=content, strategy=strategy, overall=overall, quality=quality,
        covered=sorted(cov.covered), missing=[k.id for k in missing],
        risky=bool(kinds & {"discount", "guarantee", "unsupported_claim", "badmouth",
                            "pushy_close"}),
        improved=improve(reply, a, stage, cov, missing, risky, scenario, flaws),
        analysis=a.to_dict() if hasattr(a, "to_dict") else {},
        flaws=[f.to_dict() for f in flaws],
    )


def quality_of(overall: int) -> Quality:
    """The label of an overall score: good ≥ 70, partial 45–69, weak < 45."""
    if overall >= GOOD_OVERALL:
        return "good"
    return "partial" if overall >= WEAK_OVERALL else "weak"


# The coach engine's names for what its judge found risky -> the practice flaw.
_COACH_KINDS = {"guarantee": "guarantee", "pressure close": "pushy_close",
                "badmouthing a rival": "badmouth"}  # claims: the scenario facts decide
COACH_JUDGE_CONFIDENT = 0.8
# A kind the reply's words have to supply (the judge named none) asks for a surer judge.
COACH_JUDGE_SURE = 0.9


def _coach_risks(a: Any, risky: list[str], found: list[Flaw], reply: str = "",
                 scenario: Scenario | None = None) -> list[Flaw]:
    """The coach engine's risky-promise findings the practice rules did not already name:
    its rule hits (a phrase of the reply, an over-policy discount) always, its judge's
    findings only when it is confident. The judge says *that* a line is risky (it learnt
    from thousands of rep lines, in wordings no rule lists); when it names no kind, the
    reply's own words say which (``judged_kind``)."""
    kinds = {f.kind for f in found}
    out: list[Flaw] = []
    for hit in risky:
        kind = "discount" if _DISCOUNT_HIT.match(hit) else "guarantee"
        if kind not in kinds:
            out.append(Flaw(kind, hit, ""))
            kinds.add(kind)
    confidence = float(getattr(a, "risky_confidence", 0.0) or 0.0)
    if confidence < COACH_JUDGE_CONFIDENT:
        return out
    for hit in getattr(a, "risky", []):
        named = _COACH_KINDS.get(hit)
        if named is None and not found and not out and scenario is not None \
                and confidence >= COACH_JUDGE_SURE:
            named = judged_kind(reply, scenario, getattr(a, "competitors", []) or [])
        if named and named not in kinds:
            out.append(Flaw(named, f"coach: {hit}", ""))
            kinds.add(named)
    return out


_DECISION = re.compile(
    r"\b(?:decid\w*|decision|sign\w*|commit\w*|answer|yes|deadline|offer|expire\w*|before|"
    r"by (?:monday|tuesday|wednesday|thursday|friday|tomorrow|tonight|noon)|end of)\b",
    re.IGNORECASE)
_MONEYISH = re.compile(
    r"\b(?:free|off|discount|price|cheaper|waive\w*|match|percent)\b|\d+ ?%|\$", re.IGNORECASE)
_OUTCOME = re.compile(r"\b(?:will (?:definitely|certainly|absolutely)|promise|ensure|make sure|"
                      r"you(?:'ll| will) (?:see|get|save|double|cut))\b", re.IGNORECASE)


def judged_kind(reply: str, scenario: Scenario, competitors: list[str]) -> str:
    """Which flaw a reply the coach's judge is sure is risky carries, by what it talks
    about: someone else (badmouthing), a decision or deadline (pushy close), money (a
    concession), an outcome (guarantee); otherwise a claim the facts don't back."""
    low = reply.lower()
    names = [c for c in [*scenario.competitors, *competitors] if c and c.lower() in low]
    if names or OTHERS.search(reply):
        return "badmouth"
    if _MONEYISH.search(reply):
        return "discount"
    if _OUTCOME.search(reply):
        return "guarantee"
    if _DECISION.search(reply):
        return "pushy_close"
    return "unsupported_claim"


def _cap(dim: Dimension, flaws: list[Flaw], name: str) -> Dimension:
    """``dim`` scored down for the flaws that touch it, the first such flaw as its reason."""
    caps = [(DIMENSION_CAPS[f.kind][name], f) for f in flaws if name in DIMENSION_CAPS[f.kind]]
    if not caps:
        return dim
    limit, flaw = min(caps, key=lambda c: c[0])
    reason = f"{LABELS[flaw.kind]}: '{flaw.evidence}'. {ADVICE[flaw.kind]}"
    return Dimension(min(dim.score, limit), reason,
                     {**dim.details, "flaws": sorted({f.kind for _, f in caps})})


def playbook_risky(pb: Any, reply: str) -> list[str]:
    """The playbook's own risky phrases (guarantees, legal promises) found in the reply: a
    tenant's list is its policy, so practice names every hit even where the coach engine's
    judge, weighing the whole line, would let it pass."""
    text = _norm(reply)
    hits: list[str] = []
    for expr in [*pb.risky.guarantees, *pb.risky.legal]:
        try:
            found = [m.group(0) for m in re.finditer(expr, text)]
        except re.error:
            continue
        hits += [h for h in found if h and h not in hits]
    return hits


_DISCOUNT_HIT = re.compile(r"^(\d+(?:\.\d+)?)% discount \(policy max")


def confirmed_risky(hits: list[str], reply: str, scenario: Scenario) -> list[str]:
    """The engine's risky-language rule hits: phrases of the reply (a guarantee, a legal
    promise) and over-policy discounts, the latter kept only when the percentage really is
    offered off the price here ("cut fuel costs by 12%" is a claim about the customer's
    savings, not a discount). The judge's kind names ("a promise to confirm") are not phrases
    of the reply and are left to ``_coach_risks``."""
    offered = {float(m.group(1)) for m in _PERCENT.finditer(reply)
               if _DISCOUNT_AFTER.match(reply[m.end(): m.end() + 20])
               or _DISCOUNT_BEFORE.search(reply[max(0, m.start() - 25): m.start()])}
    text = _norm(reply)
    out = []
    for hit in hits:
        m = _DISCOUNT_HIT.match(hit)
        if m:
            if float(m.group(1)) in offered:
                out.append(hit)
        elif hit in _COACH_KINDS or hit in ("a promise to confirm", "legal promise"):
            continue
        elif _norm(hit) in text:
            out.append(hit)
    return out


# Openings that acknowledge the buyer, beyond the playbook's own list (practice asks for an
# explicit acknowledgement on every objection, so it recognises the common short forms).
PRACTICE_ACK_PATTERNS = [
    r"^(that'?s |it'?s )?(a )?(totally |completely |very |really )?(fair|understandable)\b",
    r"^(that'?s |it'?s )?(a )?(very |really )?(good|great|valid|reasonable|real|big|important) "
    r"(point|question|concern|challenge|ask|problem|issue)\b",
    r"^(you'?re|you are) (absolutely |completely )?right",
    r"^(i )?(completely |totally |fully )?(understand|hear you|get it|appreciate)",
    r"^(that |this )?makes (total |complete )?sense",
    r"^understood\b", r"^of course\b", r"^(i'?m )?sorry\b", r"^thanks?( you)?\b",
    r"^(i )?(hear|get) (you|it|that)\b", r"^(good|great|fair) (question|point)\b",
    r"^(totally|completely|absolutely) fair\b", r"^sure\b", r"^happy to\b",
]


_PLAYBOOKS: dict[tuple[int, int], tuple[Any, Any]] = {}


def practice_playbook(playbook: Any, scenario: Scenario, stage: Stage) -> Any:
    """The tenant's playbook tuned for practice: the scenario's discount policy for the
    risky-promise check, and the common short acknowledgements. Cached per (playbook,
    discount policy), not per stage: each tuned playbook costs the coach engine a model
    build, so the few policies share them."""
    key = (id(playbook), scenario.product.max_discount_pct)
    hit = _PLAYBOOKS.get(key)
    if hit is not None and hit[0] is playbook:
        return hit[1]
    risky = playbook.risky.model_copy(
        update={"max_discount_pct": float(scenario.product.max_discount_pct)})
    ack = playbook.acknowledgements.model_copy(update={
        "keywords": [*playbook.acknowledgements.keywords, *PRACTICE_ACK_PATTERNS]})
    tuned = playbook.model_copy(update={"risky": risky, "acknowledgements": ack})
    if len(_PLAYBOOKS) >= 64:
        _PLAYBOOKS.pop(next(iter(_PLAYBOOKS)))
    _PLAYBOOKS[key] = (playbook, tuned)
    return tuned
