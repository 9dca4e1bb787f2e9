"""Post-call analysers: each reads a call's stored turns and returns a JSON-ready result.

The instant tier (``CoachSession`` replayed over the turns) always runs; further analysers
(e.g. a language-model one) register with ``register_analyser`` and their results are merged
into the report under ``analysers.<name>`` (and may refine summary, tips or action items).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from plugin.coach.types import CustomerContext, Turn


@dataclass(frozen=True, slots=True)
class AnalysisInput:
    """Everything an analyser may look at: the turns, the tenant's playbook, the customer."""

    call_id: str
    tenant_id: str
    turns: tuple[Turn, ...]
    playbook_yaml: str = ""
    context: CustomerContext | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    use_embeddings: bool | None = None  # None: MiniLM paraphrase matching when installed


class Analyser(Protocol):
    name: str

    def analyse(self, data: AnalysisInput) -> dict[str, Any]:
        """Return a JSON-ready dict; raise ``ProviderUnavailable`` when a retry may help."""


class InstantAnalyser:
    """The coach engine's instant tier over the whole call: scores, timeline, moments, tips."""

    name = "instant"

    def analyse(self, data: AnalysisInput) -> dict[str, Any]:
        from plugin.coach import CoachSession, default_playbook, load_playbook

        playbook = load_playbook(data.playbook_yaml) if data.playbook_yaml else default_playbook()
        session = CoachSession(playbook, context=data.context, use_embeddings=data.use_embeddings)
        nudges: list[dict[str, Any]] = []
        for turn in data.turns:
            # Let the session's timers run up to the turn's start, then feed the turn.
            nudges += [n.to_dict() for n in session.on_tick(turn.start_ms, speaking=turn.speaker)]
            result = session.on_turn(turn)
            nudges += [n.to_dict() for n in result.nudges]
        report: dict[str, Any] = session.report().to_dict()
        if not report.get("nudges"):
            report["nudges"] = nudges
        return report


AnalyserFactory = Callable[[], Analyser]
_ANALYSERS: list[AnalyserFactory] = [InstantAnalyser]


def register_analyser(factory: AnalyserFactory) -> None:
    """Add an analyser run after the instant tier for every call (idempotent)."""
    if factory not in _ANALYSERS:
        _ANALYSERS.append(factory)


def analysers() -> Sequence[Analyser]:
    return [factory() for factory in _ANALYSERS]
