"""Playbooks: a tenant's coaching rules as YAML, validated with pydantic.

``load_playbook(yaml_text)`` returns a :class:`Playbook` or raises :class:`PlaybookError`
whose message names the YAML line and the reason (pydantic error locations are mapped back
to the YAML node marks from ``yaml.compose``). ``default_playbook()`` loads the shipped
``plugin/playbooks/default.yaml``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_PLAYBOOK_PATH = Path(__file__).resolve().parent.parent / "playbooks" / "default.yaml"
OBJECTION_TYPES = ("price", "timing", "authority", "need", "competitor", "status_quo")


def _known_type(name: str) -> str:
    if name not in OBJECTION_TYPES:
        raise ValueError(f"unknown objection type {name!r}")
    return name


ObjectionName = Annotated[str, AfterValidator(_known_type)]


class PlaybookError(ValueError):
    """A playbook that cannot be used; ``str(e)`` is ``"line N: reason"``."""

    def __init__(self, line: int | None, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}" if line else reason)


def _check_patterns(patterns: list[str]) -> list[str]:
    for i, p in enumerate(patterns):
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"item {i}: invalid regular expression {p!r}: {exc}") from None
    return patterns


def _patterns_validator(cls: Any, v: list[str]) -> list[str]:
    return _check_patterns(v)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Model):
    """Numbers behind the live metrics and nudges (defaults from published call research)."""

    talk_ratio_target: float = Field(0.43, ge=0, le=1)
    talk_ratio_warn: float = Field(0.65, ge=0, le=1)
    talk_ratio_min_speech_s: float = Field(90, ge=0)  # no talk-ratio nudge before this
    monologue_nudge_s: float = Field(75, gt=0)
    pitch_too_long_s: float = Field(120, gt=0)
    long_turn_words: int = Field(80, gt=0)  # one rep turn this long -> check in
    pace_warn_wpm: float = Field(190, gt=0)
    pace_window_s: float = Field(30, gt=0)
    filler_burst_count: int = Field(4, ge=1)
    filler_burst_window_s: float = Field(30, gt=0)
    questions_target_min: int = Field(11, ge=0)
    questions_target_max: int = Field(14, ge=0)
    pause_after_objection_ms: int = Field(1000, ge=0)
    interruptions_repeat: int = Field(2, ge=1)
    interruptions_window_s: float = Field(180, gt=0)
    sentiment_smoothing: float = Field(0.4, gt=0, le=1)  # EMA weight of the newest turn
    sentiment_drop: float = Field(0.35, gt=0, le=2)
    sentiment_window_turns: int = Field(4, ge=2)
    objection_similarity: float = Field(0.30, ge=0, le=1)
    moment_similarity: float = Field(0.35, ge=0, le=1)
    similarity_margin: float = Field(0.0, ge=-1, le=1)
    cue_bonus: float = Field(0.06, ge=0, le=1)
    ack_similarity: float = Field(0.60, ge=0, le=1)
    checklist_similarity: float = Field(0.62, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.talk_ratio_warn < self.talk_ratio_target:
            raise ValueError("talk_ratio_warn must be >= talk_ratio_target")
        if self.questions_target_max < self.questions_target_min:
            raise ValueError("questions_target_max must be >= questions_target_min")
        return self


class ObjectionType(_Model):
    """Examples are embedding prototypes; keywords are case-insensitive regular expressions."""

    label: str = ""
    examples: list[str] = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list)  # weaker regexes: pick the type, never fire
    nudge: str = Field(min_length=3)

    _patterns = field_validator("keywords", "cues")(_patterns_validator)


class Battlecard(_Model):
    strengths: list[str] = Field(default_factory=list)  # our strengths to stress
    landmines: list[str] = Field(default_factory=list)  # questions that expose their gaps
    line: str = ""  # a suggested line for the rep


class Competitor(_Model):
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    battlecard: Battlecard = Field(default_factory=Battlecard)


class Tracker(_Model):
    name: str = Field(min_length=1)
    keywords: list[str] = Field(min_length=1)

    _patterns = field_validator("keywords")(_patterns_validator)


class ChecklistItem(_Model):
    """A discovery item (budget, authority…) covered when a rule or example matches."""

    id: str = Field(min_length=1)
    label: str = Field(min_length=1)
    examples: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    remind_after_s: float = Field(900, ge=0)
    remind: str = ""

    _patterns = field_validator("keywords")(_patterns_validator)


class MomentRules(_Model):
    """A moment found by rules (regex keywords) and/or nearest-prototype embeddings."""

    examples: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)

    _patterns = field_validator("keywords")(_patterns_validator)


class Risky(_Model):
    guarantees: list[str] = Field(default_factory=list)
    legal: list[str] = Field(default_factory=list)
    max_discount_pct: float = Field(10, ge=0, le=100)
    nudge: str = "Don't promise what we can't put in writing; offer to confirm with the team"

    _patterns = field_validator("guarantees", "legal")(_patterns_validator)


class NudgePolicy(_Model):
    max_per_minute: int = Field(2, ge=1)
    repeat_window_s: float = Field(180, ge=0)
    min_severity: str = Field("info", pattern="^(info|warn|critical)$")


class Playbook(_Model):
    """A tenant's coaching rules. Immutable once loaded; share it across sessions."""

    name: str = "Playbook"
    product: str = ""
    thresholds: Thresholds = Field(default_factory=lambda: Thresholds.model_validate({}))
    fillers: list[str] = Field(default_factory=list)
    objections: dict[ObjectionName, ObjectionType]
    not_objections: list[str] = Field(default_factory=list)  # negative prototypes
    competitors: list[Competitor] = Field(default_factory=list)
    trackers: list[Tracker] = Field(default_factory=list)
    checklist: list[ChecklistItem] = Field(default_factory=list)
    risky: Risky = Field(default_factory=lambda: Risky.model_validate({}))
    negative_phrases: list[str] = Field(default_factory=list)
    jargon: list[str] = Field(default_factory=list)
    buying_signals: MomentRules = Field(default_factory=MomentRules)
    next_steps: MomentRules = Field(default_factory=MomentRules)
    acknowledgements: MomentRules = Field(default_factory=MomentRules)
    nudges: NudgePolicy = Field(default_factory=lambda: NudgePolicy.model_validate({}))

    @field_validator("objections")
    @classmethod
    def _known_types(cls, v: dict[str, ObjectionType]) -> dict[str, ObjectionType]:
        if not v:
            raise ValueError("at least one objection type is required")
        return v

    @field_validator("negative_phrases", "jargon", "fillers")
    @classmethod
    def _nonempty_items(cls, v: list[str]) -> list[str]:
        for i, item in enumerate(v):
            if not item.strip():
                raise ValueError(f"item {i} is empty")
        return v

    @model_validator(mode="after")
    def _unique_ids(self) -> Playbook:
        ids = [c.id for c in self.checklist]
        if len(ids) != len(set(ids)):
            raise ValueError("checklist ids must be unique")
        return self

    def competitor(self, name: str) -> Competitor | None:
        for c in self.competitors:
            if c.name == name:
                return c
        return None


# ---------------------------------------------------------------- YAML line mapping

def _node_at(root: yaml.Node, loc: tuple[Any, ...]) -> tuple[yaml.Node, bool, yaml.Node | None]:
    """Walk ``loc`` from ``root``; return the deepest node found and whether it was exact.

    A ``[key]`` part (pydantic's marker for an invalid mapping key) selects the key node.
    Also returns the key node that led to the deepest node (a missing field's parent key)."""
    node = root
    via: yaml.Node | None = None
    parts = list(loc)
    for i, part in enumerate(parts):
        if part == "[key]":
            continue
        if isinstance(node, yaml.MappingNode):
            nxt = None
            want_key = i + 1 < len(parts) and parts[i + 1] == "[key]"
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = k if want_key else v
                    via = k
                    break
            if nxt is None:
                return node, False, via
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node, False, via
            node = node.value[part]
        else:
            return node, False, via
    return node, True, via


def _reason(err: Any) -> str:
    parts = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
    if "[key]" in parts:
        key = parts[parts.index("[key]") - 1]
        where = ".".join(parts[: parts.index("[key]") - 1])
        if where == "objections":
            return (f"objections: unknown objection type '{key}'; "
                    f"use one of {', '.join(OBJECTION_TYPES)}")
        return f"{where}: invalid key '{key}'"
    loc = ".".join(parts)
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"{loc}: required field is missing"
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown field"
    return f"{loc}: {msg}" if loc else msg


MAX_YAML_DEPTH = 32  # a playbook nests ~4 levels; deeper input would recurse in the composer
MAX_YAML_EVENTS = 200_000


def _check_shape(yaml_text: str) -> None:
    """Refuse, before composing, what the recursive composer or pydantic cannot take:
    nesting deeper than ``MAX_YAML_DEPTH`` and aliases (self-references, "billion laughs")."""
    depth = 0
    events = yaml.parse(yaml_text, Loader=yaml.SafeLoader)  # iterative: no deep recursion
    for count, event in enumerate(events, 1):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            raise PlaybookError(mark.line + 1 if mark else None,
                                "YAML aliases (*name) are not allowed in a playbook")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                mark = event.start_mark
                raise PlaybookError(mark.line + 1 if mark else None,
                                    f"YAML nested deeper than {MAX_YAML_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if count > MAX_YAML_EVENTS:
            raise PlaybookError(None, "playbook too large")


def load_playbook(yaml_text: str) -> Playbook:
    """Parse and validate a playbook; raise PlaybookError(line, reason) on any problem."""
    if not isinstance(yaml_text, str):
        raise PlaybookError(None, "a playbook is YAML text")
    try:
        _check_shape(yaml_text)
        root = yaml.compose(yaml_text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(yaml_text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise PlaybookError(line, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise PlaybookError(None, f"invalid YAML: {exc}") from None
    except (ValueError, OverflowError):  # e.g. an integer of thousands of digits
        raise PlaybookError(None, "invalid YAML: a value is out of range") from None
    if root is None or not isinstance(data, dict):
        raise PlaybookError(1, "a playbook must be a YAML mapping (name:, thresholds:, ...)")
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
        node, exact, via = _node_at(root, loc)
        mark = node.start_mark if exact or via is None else via.start_mark
        raise PlaybookError(mark.line + 1, _reason(err)) from None


@lru_cache(maxsize=1)
def default_playbook() -> Playbook:
    """The shipped default playbook for a B2B SaaS product (cached; playbooks are frozen)."""
    return load_playbook(DEFAULT_PLAYBOOK_PATH.read_text(encoding="utf-8"))
