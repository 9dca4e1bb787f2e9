"""Language-model interface of the deep tier, and the schemas its answers must satisfy."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from plugin.coach.types import CustomerContext, Turn


class DeepAdvice(BaseModel):
    """The deep tier's judgement of the last exchange and what to say next."""

    assessment: str = Field(max_length=400, description="how the rep handled the last exchange")
    suggestion: str = Field(max_length=240, description="one line the rep can say next")
    category: Literal["objection", "discovery", "competitor", "next_step", "rapport", "other"]
    severity: Literal["info", "warn", "critical"]
    confidence: float = Field(ge=0.0, le=1.0)


class CallSummary(BaseModel):
    """Running or final summary of a call."""

    summary: str = Field(max_length=1200)
    action_items: list[str] = Field(default_factory=list, max_length=10)
    next_steps: list[str] = Field(default_factory=list, max_length=5)
    risks: list[str] = Field(default_factory=list, max_length=5)


@dataclass(frozen=True, slots=True)
class DeepRequest:
    """Everything the deep tier may look at; cloud engines see only the redacted form."""

    turns: Sequence[Turn]
    context: CustomerContext | None = None
    battlecards: Sequence[dict[str, Any]] = ()  # {"name", "lines": [...]} from the playbook
    objections: Sequence[dict[str, Any]] = ()  # {"label", "advice"} from the playbook


class LanguageModel(ABC):
    """A deep-tier engine. ``advise`` and ``summarise`` raise ProviderError subclasses."""

    name: str = "llm"

    @abstractmethod
    def advise(self, request: DeepRequest) -> DeepAdvice:
        """Judge the last exchange of ``request.turns`` and suggest the next line."""

    @abstractmethod
    def summarise(self, request: DeepRequest) -> CallSummary:
        """Summarise the call so far: summary, action items, next steps, risks."""
