"""Moment detection for one line in its context: the judge's calibrated probabilities,
turned into decisions with the thresholds chosen by cross-validation.

The playbook's example phrases (objection types, buying signals, next steps,
acknowledgements, checklist items, ``not_objections``) are encoded once per playbook and
cached (``Prototypes``); their similarities are features of the judge
(``analysers/judge.py``) and decide checklist coverage. Without the embedding model the
judge runs on its lexical features alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from plugin.coach.analysers.features import NO_CONTEXT, Context, names_in
from plugin.coach.analysers.judge import Judge, Verdict, judge_for
from plugin.coach.analysers.mentions import mask_competitors
from plugin.coach.playbook import Playbook
from plugin.coach.text import STOPWORDS, any_match, normalise, words
from plugin.nlp.embeddings import Embedder

TOP_K = 3
# Function words of the languages reps most often meet that English does not share.
FOREIGN = frozenset([
    "que", "de", "la", "el", "los", "las", "del", "por", "para", "con", "una", "uno", "es",
    "esta", "este", "esto", "estamos", "tenemos", "pero", "muy", "porque", "como", "más",
    "sí", "también", "nosotros", "ustedes", "le", "les", "des", "du", "et", "est", "sont",
    "nous", "vous", "je", "avec", "pour", "pas", "une", "dans", "sur", "mais", "très",
    "aussi", "avons", "c'est", "qui", "der", "die", "das", "und", "ist", "nicht", "ich",
    "wir", "sie", "mit", "für", "ein", "eine", "einen", "aber", "auch", "noch", "sehr",
    "haben", "wird", "werden", "oder", "wenn", "dass", "uns",
])


@dataclass(slots=True)
class Detection:
    """What the semantic detector found in one utterance."""

    objection: str | None = None
    objection_confidence: float = 0.0
    objection_source: str = ""
    objection_scores: dict[str, float] = field(default_factory=dict)
    buying_signal: float = 0.0  # confidence, 0 = none
    buying_source: str = ""
    next_step: float = 0.0
    next_step_source: str = ""
    acknowledges: bool = False
    ack_source: str = ""
    ack_confidence: float = 0.0  # P(the line acknowledges a concern)
    risky: float = 0.0  # P(risky language), reps only
    question: str = "none"  # open | closed | none (the line as a whole)
    question_confidence: float = 0.0
    checklist: dict[str, str] = field(default_factory=dict)  # item id -> source
    vector: np.ndarray | None = None  # whole-line sentence vector (for answer relevance)
    verdict: Verdict | None = None
    language: str = "en"  # "unsupported" when the line is not English


class Prototypes:
    """A playbook's example phrases encoded once, grouped by label."""

    def __init__(self, pb: Playbook, embedder: Embedder) -> None:
        groups: dict[str, list[str]] = {}
        for name, obj in pb.objections.items():
            groups[f"objection:{name}"] = list(obj.examples)
        groups["none"] = list(pb.not_objections)
        groups["buying_signal"] = list(pb.buying_signals.examples)
        groups["next_step"] = list(pb.next_steps.examples)
        groups["ack"] = list(pb.acknowledgements.examples)
        groups["negative"] = (groups["none"] + groups["buying_signal"] + groups["next_step"]
                              + groups["ack"])
        for item in pb.checklist:
            groups[f"checklist:{item.id}"] = list(item.examples)
        self.labels: list[str] = []
        texts: list[str] = []
        self.texts = texts
        for label, examples in groups.items():
            for ex in examples:
                self.labels.append(label)
                texts.append(mask_competitors(ex, pb))
        self.matrix = embedder.encode_stored(texts) if texts else np.zeros((0, 384), np.float32)
        self.index: dict[str, np.ndarray] = {
            label: np.array([i for i, lab in enumerate(self.labels) if lab == label], dtype=int)
            for label in groups
        }

    def topk(self, sims: np.ndarray, label: str, k: int = TOP_K) -> np.ndarray:
        """Per unit, the mean of the ``k`` highest similarities to ``label``'s prototypes:
        steadier than the single nearest one when a playbook has many examples."""
        idx = self.index.get(label)
        if idx is None or idx.size == 0:
            return np.zeros(sims.shape[0], dtype=np.float32)
        sub = sims[:, idx]
        kk = min(k, sub.shape[1])
        part = np.partition(sub, sub.shape[1] - kk, axis=1)[:, sub.shape[1] - kk:]
        return np.asarray(part.mean(axis=1))

    def best(self, sims: np.ndarray, label: str) -> np.ndarray:
        """Per unit, the highest similarity to any prototype of ``label`` (0 if none)."""
        idx = self.index.get(label)
        if idx is None or idx.size == 0:
            return np.zeros(sims.shape[0], dtype=np.float32)
        return np.asarray(sims[:, idx].max(axis=1))


_CACHE: dict[int, tuple[Playbook, Prototypes]] = {}
_CACHE_LOCK = threading.Lock()


def prototypes_for(pb: Playbook, embedder: Embedder) -> Prototypes:
    """Cached prototype encodings per playbook object (playbooks are immutable)."""
    key = id(pb)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is pb:
        return hit[1]
    with _CACHE_LOCK:
        protos = Prototypes(pb, embedder)
        if len(_CACHE) >= 32:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = (pb, protos)
        return protos


def is_english(text: str) -> bool:
    """False for lines of four or more words with more Spanish, French or German function
    words than English ones: the judge was trained on English and says nothing about other
    languages."""
    ws = text.split()
    if len(ws) < 4:
        return True
    foreign = sum(1 for w in ws if w.strip(".,?!") in FOREIGN)
    english = sum(1 for w in words(text) if w in STOPWORDS)
    return not (foreign >= 2 and foreign > english)


class Detector:
    """The judge (with embeddings when an embedder is given) plus checklist prototypes."""

    def __init__(self, pb: Playbook, embedder: Embedder | None, *,
                 judge: Judge | None = None) -> None:
        self.pb = pb
        self.embedder = embedder
        self.protos = prototypes_for(pb, embedder) if embedder is not None else None
        self.judge = judge or judge_for(pb, embedder, self.protos)

    def detect(self, text: str, speaker: str, *, context: Context = NO_CONTEXT,
               want_ack: bool = True) -> Detection:
        """Decisions for one line by ``speaker`` after the turn described by ``context``."""
        d = Detection()
        t = normalise(text)
        if not t or not any(ch.isalnum() for ch in t):
            return d
        if not is_english(t):
            d.language = "unsupported"
            return d
        v = self.judge.judge(text, speaker, context)
        d.verdict, d.vector = v, v.vector
        th = self.judge.thresholds.detect
        source = "judge" if self.embedder is not None else "judge-lexical"
        if speaker == "customer":
            label, p = v.top("objection")
            d.objection_scores = {k: round(x, 4) for k, x in v.probs.get("objection",
                                                                        {}).items()}
            if label and p >= th["objection"]:
                keyword = self.pb.objections.get(label)
                d.objection, d.objection_confidence, d.objection_source = label, round(p, 3), \
                    ("rule+" if keyword and any_match(keyword.keywords, t) else "") + source
            else:  # a playbook keyword is the tenant's own rule: half the evidence will do
                probs = v.probs.get("objection", {})
                ruled = [n for n, o in self.pb.objections.items() if any_match(o.keywords, t)
                         and probs.get(n, 0.0) >= th["objection"] / 2]
                if ruled:
                    best = max(ruled, key=lambda n: probs.get(n, 0.0))
                    d.objection, d.objection_confidence = best, round(probs[best], 3)
                    d.objection_source = f"rule+{source}"
            pb_ = v.p("buying_signal")
            if pb_ >= th["buying_signal"] and d.objection is None:
                d.buying_signal, d.buying_source = round(pb_, 3), source
        pn = v.p("next_step")
        if pn >= th["next_step"]:
            d.next_step, d.next_step_source = round(pn, 3), source
        if speaker == "rep":
            d.risky = round(v.p("risky"), 3)
            d.ack_confidence = round(v.p("ack"), 3)
            if want_ack and d.ack_confidence >= th["ack"]:
                d.acknowledges, d.ack_source = True, source
        kind, pq = v.top("question")
        pq = 1.0 - v.p("question", "none") if v.probs.get("question") else 0.0
        if kind and pq >= th["question"]:
            d.question, d.question_confidence = kind, round(pq, 3)
        self._checklist(d, t, speaker, v.vectors)
        return d

    def _checklist(self, d: Detection, t: str, speaker: str,
                   vectors: np.ndarray | None) -> None:
        """Checklist items by keyword (either side) or example phrase (rep, embeddings: the
        vectors the judge already encoded)."""
        th, p = self.pb.thresholds, self.protos
        sims = None
        if speaker == "rep" and p is not None and vectors is not None:
            sims = vectors @ p.matrix.T
        for item in self.pb.checklist:
            if any_match(item.keywords, t):
                d.checklist[item.id] = "rule"
            elif (sims is not None and p is not None and float(
                    p.best(sims, f"checklist:{item.id}").max()) >= th.checklist_similarity):
                d.checklist[item.id] = "embedding"


def vendor_names(text: str, pb: Playbook, vocab: frozenset[str]) -> list[str]:
    """Vendor names in ``text``: the playbook's competitors, then names nobody configured
    (capitalised as written when the line has capitals)."""
    known = [c.name for c in pb.competitors
             if any(n.lower() in normalise(text) for n in (c.name, *c.aliases))]
    if known:
        return known
    raw = {w.lower().strip("'").removesuffix("'s"): w.strip("'").removesuffix("'s")
           for w in text.replace(",", " ").replace(".", " ").split()}
    out = []
    for n in names_in(normalise(text), vocab):
        shown = raw.get(n, n)
        out.append(shown if shown[:1].isupper() else n.capitalize())
    return out
