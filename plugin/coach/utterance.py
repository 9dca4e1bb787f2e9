"""Stateless analysis of one utterance: what practice scoring and every live turn start from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from plugin.coach.analysers.detector import Detection, Detector
from plugin.coach.analysers.features import NO_CONTEXT, Context
from plugin.coach.analysers.fillers import find_fillers
from plugin.coach.analysers.language import discounts, find_jargon, find_negative, find_risky
from plugin.coach.analysers.mentions import find_competitors, find_trackers
from plugin.coach.analysers.questions import find_questions
from plugin.coach.analysers.sentiment import polarity, tone
from plugin.coach.playbook import Playbook
from plugin.coach.text import normalise, sentences, words
from plugin.coach.types import Moment
from plugin.nlp.embeddings import Embedder


@dataclass(slots=True)
class UtteranceAnalysis:
    """Everything the instant tier says about one utterance; ``to_dict()`` is JSON-ready."""

    sentiment: float
    tone: dict[str, float]
    questions: list[dict[str, Any]]
    fillers: list[str]
    objection: str | None
    objection_confidence: float
    moments: list[Moment]
    risky: list[str]
    negative: list[str]
    acknowledges: bool
    word_count: int
    jargon: list[str] = field(default_factory=list)
    competitors: list[str] = field(default_factory=list)
    trackers: list[str] = field(default_factory=list)
    buying_signal: bool = False
    next_step: bool = False
    checklist: list[str] = field(default_factory=list)
    question: str = "none"  # the line as a whole: open | closed | none
    risky_confidence: float = 0.0
    ack_confidence: float = 0.0
    language: str = "en"  # "unsupported": not English, no moments judged
    detection: Detection | None = None  # internals (scores, vector); not serialised

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentiment": self.sentiment, "tone": dict(self.tone),
            "questions": [dict(q) for q in self.questions], "fillers": list(self.fillers),
            "objection": self.objection, "objection_confidence": self.objection_confidence,
            "moments": [m.to_dict() for m in self.moments], "risky": list(self.risky),
            "negative": list(self.negative), "acknowledges": self.acknowledges,
            "word_count": self.word_count, "jargon": list(self.jargon),
            "competitors": list(self.competitors), "trackers": list(self.trackers),
            "buying_signal": self.buying_signal, "next_step": self.next_step,
            "checklist": list(self.checklist), "question": self.question,
            "risky_confidence": self.risky_confidence, "ack_confidence": self.ack_confidence,
            "language": self.language,
        }


def resolve_embedder(use_embeddings: bool | None) -> Embedder | None:
    """None: use the model when installed; True: require it; False: rules only."""
    if use_embeddings is False:
        return None
    if use_embeddings is None and not Embedder.available():
        return None
    return Embedder.get()


def analyse_with(detector: Detector, text: str, speaker: str, *, turn_seq: int = 0,
                 at_ms: int = 0, want_ack: bool = True,
                 context: Context = NO_CONTEXT) -> UtteranceAnalysis:
    """Analyse ``text`` with a ready detector (the session keeps one per call), in the
    ``context`` of the turn before it."""
    pb = detector.pb
    d = detector.detect(text, speaker, context=context, want_ack=want_ack)
    n_words = len(words(text))
    is_rep = speaker == "rep"
    judged = d.verdict is not None
    th = detector.judge.thresholds.detect
    risky: list[str] = []
    if is_rep and judged:
        rules = find_risky(text, pb)
        if d.risky >= th["risky"] or (rules and d.risky >= th["risky"] / 2):
            risky = rules or [risk_kind(text)]
        offered = discounts(normalise(text))
        if (risky and not rules and offered and risky[0] == "discount"
                and max(offered) <= pb.risky.max_discount_pct):
            risky = []  # within the playbook's discount policy: approved, not risky
    negative = find_negative(text, pb) if is_rep and judged else []
    jargon = find_jargon(text, pb) if is_rep and judged else []
    competitors = find_competitors(text, pb) if judged else []
    trackers = find_trackers(text, pb) if judged else []
    scores = polarity(text)
    moments: list[Moment] = []

    def add(kind: str, label: str, conf: float = 1.0, source: str = "rule") -> None:
        moments.append(Moment(kind, label, turn_seq, at_ms, text, round(conf, 3), source))

    if d.objection:
        add("objection", d.objection, d.objection_confidence, d.objection_source)
    for name in competitors:
        add("competitor", name)
    if d.buying_signal:
        add("buying_signal", "buying_signal", d.buying_signal, d.buying_source)
    if d.next_step:
        add("next_step", "next_step", d.next_step, d.next_step_source)
    for r in risky:
        add("risky", r, max(d.risky, 0.5), "rule+judge" if r in find_risky(text, pb)
            else "judge")
    for n in negative:
        add("negative", n)
    for j in jargon:
        add("jargon", j)
    for tr in trackers:
        add("keyword", tr)
    if is_rep and d.acknowledges:
        add("acknowledgement", "acknowledgement", d.ack_confidence, d.ack_source)
    return UtteranceAnalysis(
        sentiment=round(float(scores["compound"]), 4),
        tone=tone(text, n_words, len(negative), d.acknowledges, scores),
        questions=line_questions(text, d),
        fillers=find_fillers(text, pb.fillers) if is_rep else [],
        objection=d.objection,
        objection_confidence=d.objection_confidence,
        moments=moments, risky=risky, negative=negative, acknowledges=d.acknowledges,
        word_count=n_words, jargon=jargon, competitors=competitors, trackers=trackers,
        buying_signal=bool(d.buying_signal), next_step=bool(d.next_step),
        checklist=sorted(d.checklist), question=d.question, risky_confidence=d.risky,
        ack_confidence=d.ack_confidence, language=d.language, detection=d,
    )


def line_questions(text: str, d: Detection) -> list[dict[str, Any]]:
    """The questions of a line: the judge decides whether it asks one and of which kind
    (what it invites, with or without a "?"); the sentences that read as questions are
    listed, the last one (the one left to answer) carrying the judged kind."""
    if d.question == "none":
        return []
    found = find_questions(text)
    if not found:
        sents = sentences(text) or [text]
        found = [{"text": sents[-1].strip(), "open": d.question == "open"}]
    found[-1] = {**found[-1], "open": d.question == "open"}
    return found


_RISK_KINDS = (
    ("discount", re.compile(r"\b(discount|off|free|no charge|waive|throw in|price|cheaper)\b")),
    ("guarantee", re.compile(r"\b(guarantee|promise|will (double|halve|cut|save)|100 ?%)")),
    ("pressure close", re.compile(r"\b(today|tonight|midnight|expires|sign now|deadline)\b")),
    ("legal promise", re.compile(r"\b(complian|certif|legal|audit|inspection|regulat|soc)")),
    ("badmouthing a rival", re.compile(r"\b(junk|terrible|awful|joke|going under|useless|"
                                       r"garbage|rubbish|worse)\b")),
)


def risk_kind(text: str) -> str:
    """A short name for what the judge found risky, for the nudge and the report."""
    t = normalise(text)
    for name, rx in _RISK_KINDS:
        if rx.search(t):
            return name
    return "a promise to confirm"

def analyse_utterance(text: str, speaker: str, playbook: Playbook, *,
                      use_embeddings: bool | None = None) -> UtteranceAnalysis:
    """Stateless analysis of one utterance by ``speaker`` ("rep" or "customer").

    Reps don't raise objections and customers aren't coached on fillers or risky promises,
    so those fields stay empty for the other side.
    """
    if speaker not in ("rep", "customer"):
        raise ValueError(f"speaker must be 'rep' or 'customer', not {speaker!r}")
    return analyse_with(detector_for(playbook, use_embeddings), text, speaker)


def detector_for(playbook: Playbook, use_embeddings: bool | None = None) -> Detector:
    """A detector for ``playbook`` (cheap: prototypes and judge are cached per playbook)."""
    return Detector(playbook, resolve_embedder(use_embeddings))
