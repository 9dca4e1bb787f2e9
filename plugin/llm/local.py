"""The deep tier with no network: retrieval over the playbook plus the instant tier's rules.

No instruction-following model small enough ships on PyPI (see offline-engines.md), so the
local engine answers from what the tenant wrote: objection advice and competitor
battlecards, chosen by the instant tier's analysis of the last exchange.
"""

from __future__ import annotations

from plugin.coach import CoachSession, Playbook, analyse_utterance
from plugin.coach.types import Turn
from plugin.llm.base import CallSummary, DeepAdvice, DeepRequest, LanguageModel


class LocalModel(LanguageModel):
    name = "local"

    def __init__(self, playbook: Playbook) -> None:
        self.playbook = playbook

    def advise(self, request: DeepRequest) -> DeepAdvice:
        turns = list(request.turns)
        last_customer = next((t for t in reversed(turns) if t.speaker == "customer"), None)
        if last_customer is None:
            return DeepAdvice(assessment="The customer has not spoken yet.",
                              suggestion="Open with a question about their goals for this call",
                              category="discovery", severity="info", confidence=0.5)
        said = analyse_utterance(last_customer.text, "customer", self.playbook)
        reply = next((t for t in turns if t.seq > last_customer.seq and t.speaker == "rep"), None)
        competitor = next((m.label for m in said.moments if m.kind == "competitor"), None)
        if competitor:
            return self._competitor_advice(competitor, reply)
        if said.objection:
            return self._objection_advice(said.objection, reply)
        if said.questions:
            answered = reply is not None and len(reply.text.split()) >= 6
            return DeepAdvice(
                assessment=("The rep answered the customer's question." if answered else
                            "The customer asked a question that has not been answered yet."),
                suggestion=("Check the answer landed: ask if that covers it" if answered else
                            "Answer their question directly before moving on"),
                category="discovery", severity="info" if answered else "warn", confidence=0.6)
        return DeepAdvice(assessment="No objection or risk in the last exchange.",
                          suggestion="Ask an open question about the impact on their team",
                          category="discovery", severity="info", confidence=0.4)

    def _objection_advice(self, label: str, reply: Turn | None) -> DeepAdvice:
        entry = self.playbook.objections.get(label)
        advice = (entry.nudge if entry is not None
                  else "Acknowledge the concern, then ask a question")
        if reply is None:
            return DeepAdvice(assessment=f"The customer raised a {label} objection.",
                              suggestion=advice, category="objection", severity="warn",
                              confidence=0.7)
        handled = analyse_utterance(reply.text, "rep", self.playbook)
        if handled.acknowledges and handled.questions:
            return DeepAdvice(assessment=f"Good: the {label} objection was acknowledged and "
                                         "explored with a question.",
                              suggestion="Confirm the concern is resolved before moving on",
                              category="objection", severity="info", confidence=0.7)
        missing = "acknowledging it" if not handled.acknowledges else "asking a question"
        return DeepAdvice(assessment=f"The {label} objection was answered without {missing}.",
                          suggestion=advice, category="objection", severity="warn",
                          confidence=0.7)

    def _competitor_advice(self, name: str, reply: Turn | None) -> DeepAdvice:
        card = next((c for c in self.playbook.competitors
                     if c.name.lower() == name.lower()), None)
        line = ""
        if card is not None:
            line = card.battlecard.line or next(iter(card.battlecard.landmines), "")
        return DeepAdvice(
            assessment=f"The customer mentioned {name}.",
            suggestion=(line or
                        f"Ask what they like about {name}, then contrast on outcomes")[:240],
            category="competitor", severity="warn" if reply is None else "info", confidence=0.7)

    def summarise(self, request: DeepRequest) -> CallSummary:
        session = CoachSession(self.playbook, context=request.context)
        for turn in request.turns:
            session.on_turn(turn)
        report = session.report()
        risks = [f"{o.get('label', 'objection')} objection not acknowledged"
                 for o in report.objections if not o.get("acknowledged")]
        return CallSummary(summary=report.summary[:1200],
                           action_items=[_line(a) for a in report.action_items][:10],
                           next_steps=[_line(n) for n in report.next_steps][:5],
                           risks=risks[:5])


def _line(item: dict[str, object] | str) -> str:
    """One readable line of a report item ({"owner", "text"} or {"speaker", "text"})."""
    if isinstance(item, str):
        return item
    who = item.get("owner") or item.get("speaker") or ""
    return f"{who}: {item.get('text', '')}" if who else str(item.get("text", ""))
