"""Post-call analysers: each reads a call's stored turns and returns a JSON-ready result.

The instant tier (``CoachSession`` replayed over the turns) always runs; the language-model
analyser (``plugin.llm``: Gemini with local fallback, PII redacted before the cloud) runs
when a cloud model is configured; further analysers register with ``register_analyser``.
Results other than the instant tier's are kept under ``analysers.<name>`` in the report and
may refine its summary, tips, action items and next steps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from plugin.coach.types import CustomerContext, Turn

log = logging.getLogger(__name__)


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


class LanguageModelAnalyser:
    """The deep tier's call summary: summary, action items, next steps, risks."""

    name = "llm"

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def analyse(self, data: AnalysisInput) -> dict[str, Any]:
        from plugin.coach import default_playbook, load_playbook
        from plugin.llm import deep_request, get_llm

        playbook = load_playbook(data.playbook_yaml) if data.playbook_yaml else default_playbook()
        model = get_llm(self.settings, playbook)
        try:
            summary = model.summarise(deep_request(data.turns, playbook, data.context))
        except Exception as exc:  # noqa: BLE001 - an optional tier never breaks the report
            log.exception("call %s: language-model summary failed", data.call_id)
            return {"error": f"{type(exc).__name__}: {str(exc)[:300]}", "model": model.name}
        out: dict[str, Any] = summary.model_dump()
        out["model"] = model.name
        return out


AnalyserFactory = Callable[[], Analyser]
_EXTRA: list[AnalyserFactory] = []


def register_analyser(factory: AnalyserFactory) -> None:
    """Add an analyser run after the built-in ones for every call (idempotent)."""
    if factory not in _EXTRA:
        _EXTRA.append(factory)


def analysers(settings: Any = None) -> Sequence[Analyser]:
    """The analysers for a call: instant tier, the cloud language model when configured
    (``SALESCOACH_GEMINI_API_KEY``), then registered ones."""
    chosen: list[Analyser] = [InstantAnalyser()]
    if settings is not None and getattr(settings, "llm_provider", "local") == "gemini":
        chosen.append(LanguageModelAnalyser(settings))
    return chosen + [factory() for factory in _EXTRA]
