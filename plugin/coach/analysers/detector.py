"""Moment detection that generalises to paraphrases: keyword rules + nearest prototypes.

Every playbook example (objection types, buying signals, next steps, acknowledgements,
checklist items, and ``not_objections`` as negative prototypes) is encoded once per playbook
and cached. A turn is split into a few sentence units, encoded in one batch, and compared
with all prototypes in one matrix product. A label wins when its nearest prototype is above
the playbook's calibrated threshold and beats the nearest negative prototype by a margin;
a keyword rule adds a fixed bonus, so "sounds great, but the price is above our budget" is a
price objection whatever its (positive) sentiment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from plugin.coach.analysers.head import BUYING, NEXT, HeadWeights, head_for
from plugin.coach.analysers.mentions import mask_competitors
from plugin.coach.playbook import Playbook
from plugin.coach.text import any_match, clip_words, normalise, pattern, sentences
from plugin.nlp.embeddings import Embedder

RULE_BONUS = 0.30
TOP_K = 3
MAX_UNITS = 3  # customer turns: first two sentences and the last
REP_UNITS = 2  # rep turns: the opener (acknowledgement) and the close (next step)
UNIT_WORDS = 40


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
    checklist: dict[str, str] = field(default_factory=dict)  # item id -> source
    vector: np.ndarray | None = None  # mean of the unit vectors (for answer relevance)


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


def units(text: str, limit: int = MAX_UNITS) -> list[str]:
    """The sentence units to embed: up to ``limit``, each clipped to UNIT_WORDS words."""
    sents = sentences(text) or [text]
    if len(sents) > limit:  # keep the first and the last ones: openers and asks
        sents = sents[: limit - 1] + sents[-1:]
    return [clip_words(s, UNIT_WORDS) for s in sents]


def _rule_objections(pb: Playbook, t: str) -> dict[str, str]:
    out = {}
    for name, obj in pb.objections.items():
        hit = any_match(obj.keywords, t)
        if hit:
            out[name] = hit
    return out


class Detector:
    """Rules always; embeddings when an embedder is given."""

    def __init__(self, pb: Playbook, embedder: Embedder | None, *,
                 head: HeadWeights | None | bool = True) -> None:
        """``head``: True uses the trained head for ``pb`` (cached), a HeadWeights uses
        those (cross-validation), False/None keeps the prototype competition."""
        self.pb = pb
        self.embedder = embedder
        self.protos = prototypes_for(pb, embedder) if embedder is not None else None
        self.head: HeadWeights | None = None
        if isinstance(head, HeadWeights):
            self.head = head
        elif head and embedder is not None and self.protos is not None:
            self.head = head_for(pb, embedder, self.protos)

    def detect(self, text: str, speaker: str, *, want_ack: bool = True) -> Detection:
        pb, th = self.pb, self.pb.thresholds
        t = normalise(text)
        d = Detection()
        sims: np.ndarray | None = None
        vecs: np.ndarray | None = None
        us: list[str] = []
        if self.protos is not None and self.embedder is not None and t:
            us = units(mask_competitors(t, pb), MAX_UNITS if speaker == "customer" else REP_UNITS)
            vecs = self.embedder.encode(us)
            sims = vecs @ self.protos.matrix.T
            mean = vecs.mean(axis=0)
            d.vector = mean / max(float(np.linalg.norm(mean)), 1e-9)
        p = self.protos

        head_ns = 0.0
        if speaker == "customer":
            rule_bs = any_match(pb.buying_signals.keywords, t)
            emb_bs = 0.0
            if self.head is not None and sims is not None and vecs is not None:
                emb_bs, head_ns = self._classify(d, t, us, vecs, sims)
            else:
                self._objection(d, t, sims)
                if sims is not None and p is not None:
                    emb_bs = self._moment(sims, "buying_signal", ("none", "next_step"))
            if d.objection is None or rule_bs:
                if rule_bs:
                    d.buying_signal, d.buying_source = max(0.9, emb_bs), "rule"
                elif emb_bs:
                    d.buying_signal, d.buying_source = emb_bs, "embedding"

        rule_ns = any_match(pb.next_steps.keywords, t)
        if rule_ns:
            d.next_step, d.next_step_source = 0.9, "rule"
        elif head_ns:
            d.next_step, d.next_step_source = head_ns, "embedding"
        elif sims is not None and p is not None and (speaker == "rep" or self.head is None):
            emb_ns = self._moment(sims, "next_step", ("none", "buying_signal", "ack"))
            if emb_ns:
                d.next_step, d.next_step_source = emb_ns, "embedding"

        if speaker == "rep":
            first = normalise((sentences(text) or [text])[0])
            if any_match(pb.acknowledgements.keywords, first):
                d.acknowledges, d.ack_source = True, "rule"
            elif (want_ack and sims is not None and p is not None
                  and float(p.best(sims[:1], "ack")[0]) >= th.ack_similarity):
                d.acknowledges, d.ack_source = True, "embedding"
        for item in pb.checklist:
            if any_match(item.keywords, t):
                d.checklist[item.id] = "rule"
            elif speaker == "rep" and sims is not None and p is not None:
                best = p.best(sims, f"checklist:{item.id}")
                if float(best.max()) >= th.checklist_similarity:
                    d.checklist[item.id] = "embedding"
        return d

    def _classify(self, d: Detection, t: str, us: list[str], vecs: np.ndarray,
                  sims: np.ndarray) -> tuple[float, float]:
        """Customer turn through the trained head: per unit class probabilities; the turn's
        objection is the most probable objection among units whose top class is one.
        Returns the buying-signal and next-step confidences (0.0 when no unit's top class)."""
        assert self.protos is not None and self.head is not None
        w = self.head
        probs = w.proba(w.inputs(vecs, us), w.features(self.pb, self.protos, vecs, sims, t))
        top = probs.argmax(axis=1)
        names = w.classes
        d.objection_scores = {n: round(float(probs[:, j].max()), 4)
                              for j, n in enumerate(names) if n in self.pb.objections}
        best: tuple[str, float] | None = None
        for u, j in enumerate(top):
            name, pr = names[int(j)], float(probs[u, int(j)])
            if name in self.pb.objections and (best is None or pr > best[1]):
                best = (name, pr)
        rules = _rule_objections(self.pb, t)
        if best is not None:
            d.objection = best[0]
            d.objection_confidence = round(best[1], 3)
            d.objection_source = "rule+embedding" if best[0] in rules else "embedding"

        def conf(label: str) -> float:
            j = names.index(label)
            hits = probs[top == j, j]
            return round(float(hits.max()), 3) if hits.size else 0.0

        return conf(BUYING), conf(NEXT)

    def _moment(self, sims: np.ndarray, label: str, rivals: tuple[str, ...]) -> float:
        """Best top-k similarity of a unit to ``label`` that beats the rival classes and
        every objection type; 0.0 if no unit qualifies."""
        assert self.protos is not None
        th = self.pb.thresholds
        mine = self.protos.topk(sims, label)
        rival = np.max(np.stack([self.protos.topk(sims, r) for r in rivals]
                                + [self.protos.topk(sims, f"objection:{n}")
                                   for n in self.pb.objections]), axis=0)
        ok = (mine >= th.moment_similarity) & (mine > rival + th.similarity_margin)
        return float(mine[ok].max()) if ok.any() else 0.0

    def _objection_max(self, sims: np.ndarray) -> np.ndarray:
        assert self.protos is not None
        return np.max(np.stack([self.protos.best(sims, f"objection:{n}")
                                for n in self.pb.objections]), axis=0)

    def _objection(self, d: Detection, t: str, sims: np.ndarray | None) -> None:
        """Per unit: top-k mean similarity per objection type and for the negative class
        (non-objections, buying signals, next steps, acknowledgements), plus rule and cue
        bonuses; the unit's argmax must be an objection type above the threshold."""
        th = self.pb.thresholds
        names: list[str] = list(self.pb.objections)
        rules = _rule_objections(self.pb, t)
        cue = np.array([th.cue_bonus * min(2, sum(1 for c in self.pb.objections[n].cues
                                                   if pattern(c).search(t))) for n in names])
        rule_bonus = np.array([RULE_BONUS if n in rules else 0.0 for n in names])
        best_name: str | None = None
        best_score = -1.0
        best_emb = 0.0
        if sims is not None and self.protos is not None:
            per_type = np.stack([self.protos.topk(sims, f"objection:{n}") for n in names], 1)
            negative = self.protos.topk(sims, "negative")
            scores = per_type + cue + rule_bonus
            for u in range(scores.shape[0]):
                j = int(np.argmax(scores[u]))
                if scores[u, j] <= negative[u] + th.similarity_margin:
                    continue
                if per_type[u, j] < th.objection_similarity and names[j] not in rules:
                    continue
                if scores[u, j] > best_score:
                    best_name, best_score, best_emb = names[j], float(scores[u, j]), \
                        float(per_type[u, j])
            d.objection_scores = {n: round(float(v), 4)
                                  for n, v in zip(names, scores.max(axis=0), strict=True)}
        elif rules:
            best_name = max(rules, key=lambda n: float(cue[names.index(n)]))
            d.objection_scores = {n: (RULE_BONUS if n in rules else 0.0) for n in names}
        elif not t.rstrip().endswith("?"):
            # Rules-only fallback: two or more cue words of one type in a statement.
            counts = cue / th.cue_bonus if th.cue_bonus else cue
            top = int(np.argmax(counts))
            if counts[top] >= 2 and sorted(counts)[-2] < counts[top]:
                best_name = names[top]
                d.objection_scores = {n: round(float(c), 4) for n, c in zip(names, cue,
                                                                             strict=True)}
                d.objection_confidence = 0.5
                d.objection = best_name
                d.objection_source = "cues"
                return
        if best_name is None:
            return
        d.objection = best_name
        if best_name in rules:
            d.objection_confidence = round(min(1.0, max(0.9, best_emb)), 3)
            d.objection_source = "rule+embedding" if sims is not None else "rule"
        else:
            d.objection_confidence = round(min(1.0, best_emb + 0.3), 3)
            d.objection_source = "embedding"
