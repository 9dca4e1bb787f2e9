"""One coaching session per call: turns in, moments, nudges and live metrics out."""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from plugin.coach import nudges as nz
from plugin.coach.analysers.detector import Detector, vendor_names
from plugin.coach.analysers.features import NO_CONTEXT, Context
from plugin.coach.analysers.pace import PaceMeter
from plugin.coach.analysers.talk import TalkTracker
from plugin.coach.analysers.trend import SentimentTrend
from plugin.coach.playbook import Playbook
from plugin.coach.report import CallReport, build_report
from plugin.coach.text import content_words, normalise, sentences
from plugin.coach.types import SPEAKERS, CustomerContext, Moment, Nudge, Turn
from plugin.coach.utterance import UtteranceAnalysis, analyse_with, resolve_embedder

_ACTION = re.compile(
    r"\b(i'?ll|i will|we'?ll|we will|let me|i'?m going to|we'?re going to|i can)\s+"
    r"(send|share|email|follow|set|schedule|book|loop|get|check|confirm|put|draft|prepare|"
    r"introduce|talk|run|circle|review|forward|call|update|ask)\b", re.IGNORECASE)
ANSWER_SIMILARITY = 0.30
LOW_QUESTION_CHECK_S = 600
LOW_QUESTION_COUNT = 3


@dataclass(slots=True)
class TurnResult:
    """What one turn produced: its analysis, new moments, nudges that passed the policy and
    the live metrics after it."""

    turn: Turn
    analysis: UtteranceAnalysis
    moments: list[Moment]
    nudges: list[Nudge]
    metrics: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"turn_seq": self.turn.seq, "analysis": self.analysis.to_dict(),
                "moments": [m.to_dict() for m in self.moments],
                "nudges": [n.to_dict() for n in self.nudges], "metrics": self.metrics}


@dataclass(slots=True)
class ObjectionRecord:
    turn_seq: int
    at_ms: int
    end_ms: int
    label: str
    text: str
    confidence: float
    source: str
    confident: bool = True  # at or above the nudge threshold: nudged and reported
    response: str | None = None
    response_seq: int | None = None
    acknowledged: bool | None = None
    pause_ms: int | None = None
    asked_question: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"turn_seq": self.turn_seq, "at_ms": self.at_ms, "label": self.label,
                "text": self.text, "confidence": self.confidence, "source": self.source,
                "confident": self.confident,
                "response": self.response, "response_seq": self.response_seq,
                "acknowledged": self.acknowledged, "pause_ms": self.pause_ms,
                "asked_question": self.asked_question}


@dataclass(slots=True)
class _PendingQuestion:
    turn_seq: int
    at_ms: int
    text: str
    vector: np.ndarray | None


@dataclass(slots=True)
class _State:
    turns: list[Turn] = field(default_factory=list)
    analyses: list[UtteranceAnalysis] = field(default_factory=list)
    moments: list[Moment] = field(default_factory=list)
    nudges: list[Nudge] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    customer_questions: list[dict[str, Any]] = field(default_factory=list)
    objections: list[ObjectionRecord] = field(default_factory=list)
    pending_objection: ObjectionRecord | None = None
    pending_questions: list[_PendingQuestion] = field(default_factory=list)
    checklist: dict[str, int] = field(default_factory=dict)  # item id -> turn seq
    filler_times: deque[int] = field(default_factory=deque)
    filler_total: int = 0
    competitors: Counter[str] = field(default_factory=Counter)
    trackers: Counter[str] = field(default_factory=Counter)
    action_items: list[dict[str, Any]] = field(default_factory=list)
    next_steps: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    rep_speaking_since: int | None = None
    now_ms: int = 0
    last_pace: float | None = None
    unanswered: list[dict[str, Any]] = field(default_factory=list)
    context: Context = NO_CONTEXT  # the turn before the next one, as the judge reads it


class CoachSession:
    """The instant tier for one call, practice session or recording.

    ``on_turn`` for each final turn (in order), ``on_tick`` every second or so while audio
    flows (monologue clock, late-call reminders), ``metrics()`` any time, ``report()`` at
    the end. ``use_embeddings``: None uses the embedding model when installed.
    """

    def __init__(self, playbook: Playbook, context: CustomerContext | None = None, *,
                 use_embeddings: bool | None = None) -> None:
        self.playbook = playbook
        self.context = context
        th = playbook.thresholds
        self.detector = Detector(playbook, resolve_embedder(use_embeddings))
        self.talk = TalkTracker()
        self.pace = PaceMeter(th.pace_window_s)
        self.trend = SentimentTrend(th.sentiment_smoothing, th.sentiment_window_turns,
                                    th.sentiment_drop)
        pol = playbook.nudges
        self.gate = nz.NudgeGate(pol.max_per_minute, pol.repeat_window_s, pol.min_severity)
        self.nudge_at = self.detector.judge.thresholds.nudge
        self.s = _State()

    @property
    def uses_embeddings(self) -> bool:
        return self.detector.embedder is not None

    # ------------------------------------------------------------------ turns

    def on_turn(self, turn: Turn) -> TurnResult:
        """Analyse one final turn; return its moments, the nudges let through and metrics."""
        if turn.speaker not in SPEAKERS:
            raise ValueError(f"turn.speaker must be 'rep' or 'customer', not {turn.speaker!r}")
        s, th = self.s, self.playbook.thresholds
        s.now_ms = max(s.now_ms, turn.end_ms)
        want_ack = turn.speaker == "rep" and s.pending_objection is not None
        a = analyse_with(self.detector, turn.text, turn.speaker, turn_seq=turn.seq,
                         at_ms=turn.start_ms, want_ack=want_ack, context=s.context)
        s.context = Context(turn.speaker, a.question, a.objection, a.next_step)
        s.turns.append(turn)
        s.analyses.append(a)
        moments = [self._quiet(m) for m in a.moments]
        out: list[Nudge] = []

        def nudge(category: str, severity: Any, text: str, rule: str,
                  key: str | None = None, follow_up: bool = False) -> None:
            n = nz.make(category, severity, text, rule, turn.end_ms, turn.seq, key)
            if self.gate.offer(n, follow_up=follow_up):
                out.append(n)

        interrupted = self.talk.add(turn)
        smoothed = self.trend.add(turn.speaker, a.sentiment)
        if turn.speaker == "rep":
            s.rep_speaking_since = None
            self.pace.add(turn, a.word_count)
            s.last_pace = self.pace.wpm()
            for q in a.questions:
                s.questions.append({**q, "turn_seq": turn.seq, "at_ms": turn.start_ms})
        else:
            s.rep_speaking_since = None
            for q in a.questions:
                s.customer_questions.append({**q, "turn_seq": turn.seq, "at_ms": turn.start_ms})

        if turn.speaker == "rep":
            self._rep_turn(turn, a, moments, nudge, interrupted)
        else:
            self._customer_turn(turn, a, nudge)

        # Checklist coverage, trackers, next steps and action items (both sides).
        for item_id in a.checklist:
            s.checklist.setdefault(item_id, turn.seq)
        s.trackers.update(a.trackers)
        if a.next_step:
            s.next_steps.append({"turn_seq": turn.seq, "speaker": turn.speaker,
                                 "text": turn.text.strip(),
                                 "confidence": a.detection.next_step if a.detection else 1.0,
                                 "confident": (a.detection.next_step if a.detection else 1.0)
                                 >= self.nudge_at.get("next_step", 0.8)})
            s.checklist.setdefault("next_step", turn.seq)
        for sent in sentences(turn.text):
            if _ACTION.search(sent):
                s.action_items.append({"owner": turn.speaker, "text": sent.strip(),
                                       "turn_seq": turn.seq})

        # Talk ratio and sentiment trend.
        ratio = self.talk.rep_ratio()
        if self.talk.total_s() >= th.talk_ratio_min_speech_s and ratio > th.talk_ratio_warn:
            nudge("listening", "warn",
                  f"You've talked {ratio:.0%} of the call: ask an open question and listen",
                  "talk_ratio")
        if turn.speaker == "customer" and self.trend.falling():
            nudge("sentiment", "warn",
                  "The customer sounds less positive: check in and ask how this lands",
                  "sentiment_trend")

        s.moments.extend(moments)
        s.nudges.extend(out)
        s.timeline.append({
            "t_ms": turn.end_ms, "turn_seq": turn.seq, "speaker": turn.speaker,
            "talk_ratio": round(ratio, 3),
            "rep_sentiment": _r(self.trend.smoothed["rep"]),
            "customer_sentiment": _r(self.trend.smoothed["customer"]),
            "sentiment": round(smoothed, 3), "pace": s.last_pace,
        })
        return TurnResult(turn, a, moments, out, self.metrics())

    def _quiet(self, m: Moment) -> Moment:
        """Judged moments under their nudge threshold are kept quiet (transcript only);
        risky language (compliance) and exact rules never are."""
        task = {"objection": "objection", "buying_signal": "buying_signal",
                "next_step": "next_step"}.get(m.kind)
        if task is None or m.source == "rule":
            return m
        return replace(m, quiet=m.confidence < self.nudge_at.get(task, 0.8))

    def _customer_turn(self, turn: Turn, a: UtteranceAnalysis, nudge: Any) -> None:
        s = self.s
        if a.objection:
            # Sure enough to nudge and report: the calibrated threshold, or a detection the
            # playbook's own keyword for that type corroborates.
            source = a.detection.objection_source if a.detection else ""
            confident = (a.objection_confidence >= self.nudge_at.get("objection", 0.8)
                         or source.startswith("rule+"))
            rec = ObjectionRecord(turn.seq, turn.speech_start_ms, turn.speech_end_ms,
                                  a.objection, turn.text, a.objection_confidence,
                                  a.detection.objection_source if a.detection else "rule",
                                  confident)
            s.objections.append(rec)
            s.pending_objection = rec
            if confident:
                named = a.competitors[0] if a.competitors else None
                if named is None and a.objection == "competitor":
                    found = vendor_names(turn.text, self.playbook,
                                         self.detector.judge.feat.vocab)
                    named = found[0] if found else None
                nudge("objection", "warn",
                      nz.objection_text(self.playbook, a.objection, self.context, named,
                                        said=turn.text), f"objection:{a.objection}")
        for name in a.competitors:
            s.competitors[name] += 1
            if not a.objection:
                nudge("competitor", "info", nz.competitor_text(self.playbook, name),
                      f"competitor:{name}")
        if (a.buying_signal and not a.objection and a.detection is not None
                and a.detection.buying_signal >= self.nudge_at.get("buying_signal", 0.8)):
            # A warning, not a tip: the moment to move the deal on passes with the next turn.
            nudge("next_step", "warn",
                  "Buying signal: answer it, then propose a concrete next step with a date",
                  "buying_signal")
        vec = a.detection.vector if a.detection else None
        for q in a.questions:
            s.pending_questions.append(_PendingQuestion(turn.seq, turn.start_ms,
                                                        str(q["text"]), vec))

    def _rep_turn(self, turn: Turn, a: UtteranceAnalysis, moments: list[Moment], nudge: Any,
                  interrupted: bool) -> None:
        s, th, pb = self.s, self.playbook.thresholds, self.playbook
        rec = s.pending_objection
        if rec is not None:
            rec.response, rec.response_seq = turn.text.strip(), turn.seq
            rec.acknowledged = a.acknowledges
            timed = turn.duration_ms > 0 and rec.end_ms > rec.at_ms  # practice text has no times
            # From the end of the customer's last word to the rep's first word.
            rec.pause_ms = max(0, turn.speech_start_ms - rec.end_ms) if timed else None
            rec.asked_question = bool(a.questions)
            s.pending_objection = None
            # Advice on answering an objection continues that objection's card.
            follow_up = self.gate.shown(f"objection:{rec.label}", 90_000, turn.end_ms)
            p_missing = 1.0 - a.ack_confidence
            if not a.acknowledges and a.detection is not None and a.language == "en":
                sure = rec.confident and p_missing >= self.nudge_at.get("ack_missing", 0.8)
                moments.append(Moment("missing_acknowledgement", rec.label, turn.seq,
                                      turn.start_ms, turn.text, round(p_missing, 3), "judge",
                                      quiet=not sure))
                if sure:
                    nudge("objection", "info",
                          f"Acknowledge their {rec.label.replace('_', ' ')} concern before "
                          "answering it", "missing_acknowledgement",
                          key=f"missing_acknowledgement:{rec.label}", follow_up=follow_up)
            elif (rec.confident and rec.pause_ms is not None
                  and rec.pause_ms < th.pause_after_objection_ms):
                nudge("objection", "info",
                      "Pause a beat after an objection before you answer", "pause_after_objection",
                      follow_up=follow_up)

        if s.pending_questions:
            self._answer_check(turn, a, moments, nudge)

        if a.risky:  # compliance: through the per-minute cap, one key per thing said
            nudge("risk", "critical", f"{pb.risky.nudge} (\"{a.risky[0]}\")", "risky_language",
                  key=f"risky:{normalise(a.risky[0])}")
        if a.negative:
            nudge("language", "info",
                  f"Say what you can do instead of \"{a.negative[0]}\"", "negative_phrasing",
                  key=f"negative:{normalise(a.negative[0])}")
        if a.jargon:
            nudge("language", "info", f"Swap \"{a.jargon[0]}\" for plain words", "jargon")
        for name in a.competitors:
            s.competitors[name] += 1

        if a.fillers:
            s.filler_total += len(a.fillers)
            s.filler_times.extend([turn.end_ms] * len(a.fillers))
        window = int(th.filler_burst_window_s * 1000)
        while s.filler_times and turn.end_ms - s.filler_times[0] > window:
            s.filler_times.popleft()
        if a.fillers and len(s.filler_times) >= th.filler_burst_count:
            nudge("delivery", "info",
                  f"Pause instead of saying \"{a.fillers[0]}\": silence sounds confident",
                  "filler_burst")

        if interrupted:
            n = self.talk.recent_interruptions(turn.start_ms,
                                               int(th.interruptions_window_s * 1000))
            if n >= th.interruptions_repeat:
                nudge("listening", "warn", "Let the customer finish before you answer",
                      "interruptions")
        if s.last_pace is not None and s.last_pace > th.pace_warn_wpm:
            nudge("delivery", "info",
                  f"Slow down: you're at {s.last_pace:.0f} words a minute", "pace")
        mono = self.talk.monologue_ms(turn.end_ms)
        if mono >= th.monologue_nudge_s * 1000:
            nudge("listening", "warn",
                  f"You've talked for {mono // 1000} s: pause and ask a question", "monologue")
        elif a.word_count >= th.long_turn_words:
            nudge("listening", "warn",
                  "That was a long stretch: stop and ask what they think so far", "long_turn")

    def _answer_check(self, turn: Turn, a: UtteranceAnalysis, moments: list[Moment],
                      nudge: Any) -> None:
        """A customer question is answered when the rep's reply shares its content or meaning."""
        s = self.s
        rep_words = content_words(turn.text)
        rep_vec = a.detection.vector if a.detection else None
        for q in s.pending_questions:
            overlap = bool(content_words(q.text) & rep_words)
            similar = (rep_vec is not None and q.vector is not None
                       and float(rep_vec @ q.vector) >= ANSWER_SIMILARITY)
            if overlap or similar or a.word_count >= 25:
                continue
            item = {"turn_seq": q.turn_seq, "at_ms": q.at_ms, "text": q.text,
                    "reply_seq": turn.seq}
            s.unanswered.append(item)
            moments.append(Moment("unanswered_question", "customer_question", turn.seq,
                                  turn.start_ms, q.text, 0.7, "rule"))
            nudge("listening", "warn", f"Answer their question first: \"{q.text[:70]}\"",
                  "unanswered_question")
        s.pending_questions = []

    # ------------------------------------------------------------------ timers

    def on_tick(self, now_ms: int, speaking: str | None = "rep") -> list[Nudge]:
        """Timers between turns: the monologue clock while the rep is still talking, and
        late-call reminders for checklist items not yet covered."""
        s, th = self.s, self.playbook.thresholds
        s.now_ms = max(s.now_ms, now_ms)
        out: list[Nudge] = []

        def nudge(category: str, severity: Any, text: str, rule: str, key: str) -> None:
            n = nz.make(category, severity, text, rule, now_ms, None, key)
            if self.gate.offer(n):
                out.append(n)

        if speaking == "rep":
            if self.talk.run_speaker == "rep":
                mono = self.talk.monologue_ms(now_ms)
            else:
                if s.rep_speaking_since is None:
                    s.rep_speaking_since = now_ms
                mono = now_ms - s.rep_speaking_since
            if mono >= th.pitch_too_long_s * 1000:
                nudge("listening", "critical",
                      f"Over {int(th.pitch_too_long_s)} s of pitch: stop and ask what resonates",
                      "monologue_long", "monologue_long")
            elif mono >= th.monologue_nudge_s * 1000:
                nudge("listening", "warn",
                      f"You've talked for {mono // 1000} s: pause and ask a question",
                      "monologue", "monologue")
        else:
            s.rep_speaking_since = None

        for item in self.playbook.checklist:
            if item.id not in s.checklist and now_ms >= item.remind_after_s * 1000:
                nudge("checklist", "info", item.remind or f"Cover {item.label.lower()}",
                      "checklist_reminder", f"checklist:{item.id}")
        if now_ms >= LOW_QUESTION_CHECK_S * 1000 and len(s.questions) < LOW_QUESTION_COUNT:
            nudge("discovery", "info", "Ask an open question about their goals",
                  "few_questions", "few_questions")
        s.nudges.extend(out)
        return out

    # ------------------------------------------------------------------ outputs

    def metrics(self) -> dict[str, Any]:
        """Live metrics, JSON-ready."""
        s, t = self.s, self.talk
        rep_min = t.talk_ms["rep"] / 60000.0
        open_q = sum(1 for q in s.questions if q["open"])
        return {
            "duration_s": round(s.now_ms / 1000.0, 1),
            "talk_ratio": round(t.rep_ratio(), 3),
            "rep_talk_s": round(t.talk_ms["rep"] / 1000.0, 1),
            "customer_talk_s": round(t.talk_ms["customer"] / 1000.0, 1),
            "longest_monologue_s": round(t.longest_ms["rep"] / 1000.0, 1),
            "longest_customer_story_s": round(t.longest_ms["customer"] / 1000.0, 1),
            "questions": {"total": len(s.questions), "open": open_q,
                          "closed": len(s.questions) - open_q},
            "customer_questions": len(s.customer_questions),
            "unanswered_questions": len(s.unanswered),
            "pace_wpm": s.last_pace,
            "fillers": s.filler_total,
            "fillers_per_min": round(s.filler_total / rep_min, 2) if rep_min > 0 else 0.0,
            "interruptions": len(t.interruptions),
            "sentiment": {"rep": _r(self.trend.smoothed["rep"]),
                          "customer": _r(self.trend.smoothed["customer"])},
            "customer_sentiment_falling": self.trend.falling(),
            "checklist": {i.id: i.id in s.checklist for i in self.playbook.checklist},
            "objections": len({o.label for o in s.objections if o.confident}),
            "competitors": dict(s.competitors),
            "trackers": dict(s.trackers),
            "nudges": len(s.nudges),
            "suppressed_nudges": self.gate.suppressed,
            "embeddings": self.uses_embeddings,
        }

    def report(self) -> CallReport:
        """The end-of-call :class:`~plugin.coach.report.CallReport`."""
        return build_report(self)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)
