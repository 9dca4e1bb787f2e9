"""Stateless analysis of one utterance: what practice scoring and every live turn start from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plugin.coach.analysers.detector import Detection, Detector
from plugin.coach.analysers.fillers import find_fillers
from plugin.coach.analysers.language import find_jargon, find_negative, find_risky
from plugin.coach.analysers.mentions import find_competitors, find_trackers
from plugin.coach.analysers.questions import find_questions
from plugin.coach.analysers.sentiment import polarity, tone
from plugin.coach.playbook import Playbook
from plugin.coach.text import words
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
            "checklist": list(self.checklist),
        }


def resolve_embedder(use_embeddings: bool | None) -> Embedder | None:
    """None: use the model when installed; True: require it; False: rules only."""
    if use_embeddings is False:
        return None
    if use_embeddings is None and not Embedder.available():
        return None
    return Embedder.get()


def analyse_with(detector: Detector, text: str, speaker: str, *, turn_seq: int = 0,
                 at_ms: int = 0, want_ack: bool = True) -> UtteranceAnalysis:
    """Analyse ``text`` with a ready detector (the session keeps one per call)."""
    pb = detector.pb
    d = detector.detect(text, speaker, want_ack=want_ack)
    n_words = len(words(text))
    is_rep = speaker == "rep"
    risky = find_risky(text, pb) if is_rep else []
    negative = find_negative(text, pb) if is_rep else []
    jargon = find_jargon(text, pb) if is_rep else []
    competitors = find_competitors(text, pb)
    trackers = find_trackers(text, pb)
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
        add("risky", r)
    for n in negative:
        add("negative", n)
    for j in jargon:
        add("jargon", j)
    for tr in trackers:
        add("keyword", tr)
    if is_rep and d.acknowledges:
        add("acknowledgement", "acknowledgement", 1.0, d.ack_source)
    return UtteranceAnalysis(
        sentiment=round(float(scores["compound"]), 4),
        tone=tone(text, n_words, len(negative), d.acknowledges, scores),
        questions=find_questions(text),
        fillers=find_fillers(text, pb.fillers) if is_rep else [],
        objection=d.objection,
        objection_confidence=d.objection_confidence,
        moments=moments, risky=risky, negative=negative, acknowledges=d.acknowledges,
        word_count=n_words, jargon=jargon, competitors=competitors, trackers=trackers,
        buying_signal=bool(d.buying_signal), next_step=bool(d.next_step),
        checklist=sorted(d.checklist), detection=d,
    )


def analyse_utterance(text: str, speaker: str, playbook: Playbook, *,
                      use_embeddings: bool | None = None) -> UtteranceAnalysis:
    """Stateless analysis of one utterance by ``speaker`` ("rep" or "customer").

    Reps don't raise objections and customers aren't coached on fillers or risky promises,
    so those fields stay empty for the other side.
    """
    if speaker not in ("rep", "customer"):
        raise ValueError(f"speaker must be 'rep' or 'customer', not {speaker!r}")
    return analyse_with(Detector(playbook, resolve_embedder(use_embeddings)), text, speaker)
