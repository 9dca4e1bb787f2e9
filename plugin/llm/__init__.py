"""Deep tier: a language model judges the last exchange and summarises the call.

``get_llm(settings, playbook)`` returns Gemini (when keyed) wrapped so that any failure,
malformed or late answer falls back to the local engine: the deep tier never breaks a call.
"""

from __future__ import annotations

import logging
from typing import Any

from plugin.coach import Playbook
from plugin.llm.base import CallSummary, DeepAdvice, DeepRequest, LanguageModel
from plugin.llm.local import LocalModel
from plugin.providers.errors import ProviderError

log = logging.getLogger(__name__)

__all__ = ["CallSummary", "DeepAdvice", "DeepRequest", "LanguageModel", "LocalModel",
           "FallbackModel", "get_llm", "deep_request"]


class FallbackModel(LanguageModel):
    """Try ``primary``; on any provider error use ``fallback`` and say so in the log."""

    def __init__(self, primary: LanguageModel, fallback: LanguageModel) -> None:
        self.primary, self.fallback = primary, fallback
        self.name = f"{primary.name}+{fallback.name}"
        self.fallbacks = 0

    def advise(self, request: DeepRequest) -> DeepAdvice:
        try:
            return self.primary.advise(request)
        except ProviderError as exc:
            self._fell_back(exc)
            return self.fallback.advise(request)

    def summarise(self, request: DeepRequest) -> CallSummary:
        try:
            return self.primary.summarise(request)
        except ProviderError as exc:
            self._fell_back(exc)
            return self.fallback.summarise(request)

    def _fell_back(self, exc: ProviderError) -> None:
        from plugin.metrics import model_fallback

        self.fallbacks += 1
        model_fallback("deep_tier", self.primary.name, self.fallback.name)
        log.warning("deep tier falls back to %s: %s", self.fallback.name, exc.message)


def deep_request(turns: Any, playbook: Playbook, context: Any = None) -> DeepRequest:
    """A DeepRequest carrying the playbook's battlecards and objection advice."""
    cards = [{"name": c.name, "strengths": c.battlecard.strengths,
              "landmines": c.battlecard.landmines, "line": c.battlecard.line}
             for c in playbook.competitors]
    objections = [{"label": k, "advice": v.nudge} for k, v in playbook.objections.items()]
    return DeepRequest(turns=tuple(turns), context=context, battlecards=cards,
                       objections=objections)


def get_llm(settings: Any, playbook: Playbook) -> LanguageModel:
    """Gemini with local fallback when a key is set (or chosen); the local engine otherwise."""
    local = LocalModel(playbook)
    if settings.llm_provider != "gemini":
        return local
    from plugin.llm.gemini import GeminiModel

    gemini = GeminiModel(settings.gemini_api_key, settings.gemini_model,
                         base_url=settings.gemini_base_url)
    return FallbackModel(gemini, local)
