"""Practice scenarios: YAML data files validated on load into typed, immutable models.

A scenario is a product, a buyer persona, the objections the buyer raises (in order, each
with phrasings at rising pressure), what a good answer must contain, and the buyer's
in-character reactions. Files live in ``plugin/practice/scenarios/*.yaml``; a bad file fails
with ``ScenarioError`` naming the file and the field.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCENARIO_DIR = Path(__file__).parent / "scenarios"

ObjectionType = Literal[
    "price", "timing", "authority", "need", "competitor", "status_quo", "technical", "trust",
    "gatekeeper", "next_step",
]


class ScenarioError(ValueError):
    """A scenario file is missing or invalid; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyPoint(_Model):
    """One thing a good answer must contain.

    ``keywords`` (lower-case fragments; all words of one entry must appear) and ``examples``
    (full sentences, also matched by meaning with embeddings) recognise it; ``probe`` is what
    the buyer asks when it is missing.
    """

    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    label: str = Field(min_length=3)
    keywords: list[str] = Field(min_length=1)
    examples: list[str] = Field(min_length=1)
    probe: str = Field(min_length=3)


class Reactions(_Model):
    """The buyer's lines after a good, partial or weak answer to this objection."""

    good: list[str] = Field(min_length=1)
    partial: list[str] = Field(default_factory=list)
    weak: list[str] = Field(default_factory=list)


class Objection(_Model):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    type: ObjectionType
    phrasings: list[str] = Field(min_length=2, description="rising pressure, first is the opener")
    key_points: list[KeyPoint] = Field(min_length=1)
    required: int = Field(default=0, ge=0, description="key points for a good answer; 0 = most")
    acknowledge: str = Field(min_length=3, description="a model acknowledgement")
    confirm: str = Field(min_length=3, description="a model confirming question")
    reactions: Reactions

    @model_validator(mode="after")
    def _required_fits(self) -> Objection:
        if self.required > len(self.key_points):
            raise ValueError(
                f"required={self.required} exceeds the {len(self.key_points)} key points")
        return self

    @property
    def needed(self) -> int:
        """Key points a good answer must cover (``required`` or a majority)."""
        return self.required or max(1, (len(self.key_points) + 1) // 2)


class Product(_Model):
    name: str
    summary: str
    value_points: list[str] = Field(min_length=1)
    pricing: list[str] = Field(min_length=1, description="price facts the rep may quote")
    max_discount_pct: int = Field(default=0, ge=0, le=100)


class PersonaStyle(_Model):
    """Persona-specific phrasing the buyer wraps around its lines."""

    press: list[str] = Field(min_length=1, description="lead-ins when pushing harder")
    accept: list[str] = Field(min_length=1, description="lead-ins when satisfied")
    risky: str = Field(min_length=3, description="reaction to a promise that sounds too good")
    impatient: str = Field(min_length=3, description="warning when patience is nearly gone")


class PersonaFact(_Model):
    """Something the buyer knows and says when the rep asks about it (``about``: lower-case
    words or phrases of the question that point at it)."""

    about: list[str] = Field(min_length=1)
    answer: str = Field(min_length=3)


class Persona(_Model):
    name: str
    role: str
    company: str
    temperament: str
    industry: str = ""
    goals: list[str] = Field(min_length=1)
    style: PersonaStyle
    facts: list[PersonaFact] = Field(default_factory=list,
                                     description="answers to the rep's questions")
    hidden: list[str] = Field(default_factory=list,
                              description="what the buyer wants but won't say unless asked")
    accepts: list[str] = Field(default_factory=list, description="what the buyer would agree to")
    refuses: list[str] = Field(default_factory=list, description="what the buyer won't accept")


class Closing(_Model):
    """After the objections: the buyer waits for a concrete next step."""

    ask: str
    key_points: list[KeyPoint] = Field(min_length=1)
    agreed: str
    walkout: str
    acknowledge: str = "Thanks for walking me through that."
    confirm: str = "Does that work for you?"


class Scenario(_Model):
    id: str = Field(pattern=r"^[a-z0-9-]+$", max_length=64)
    title: str
    summary: str
    difficulty: Literal["easy", "medium", "hard"] = "medium"
    product: Product
    persona: Persona
    opening: str
    patience: int = Field(default=3, ge=1, le=10,
                          description="weak answers before the buyer leaves")
    max_attempts: int = Field(default=3, ge=1, le=6,
                              description="tries per objection before it is parked")
    objections: list[Objection] = Field(min_length=1)
    closing: Closing
    competitors: list[str] = Field(default_factory=list,
                                   description="rivals the rep must not run down")

    @model_validator(mode="after")
    def _unique_ids(self) -> Scenario:
        ids = [o.id for o in self.objections]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate objection ids: {', '.join(dupes)}")
        return self

    def summary_dict(self) -> dict[str, Any]:
        """What a rep sees before starting (no answer key)."""
        return {
            "id": self.id, "title": self.title, "summary": self.summary,
            "difficulty": self.difficulty,
            "product": {"name": self.product.name, "summary": self.product.summary,
                        "value_points": self.product.value_points,
                        "pricing": self.product.pricing},
            "persona": {"name": self.persona.name, "role": self.persona.role,
                        "company": self.persona.company, "temperament": self.persona.temperament,
                        "goals": self.persona.goals, "industry": self.persona.industry},
            "brief": self.brief(),
            "objection_count": len(self.objections),
        }

    def brief(self) -> dict[str, Any]:
        """What the rep may see during the session: the facts the content score checks."""
        return {"product": self.product.name, "value_points": self.product.value_points,
                "pricing": self.product.pricing,
                "discount_policy": (f"Up to {self.product.max_discount_pct}% discount, only "
                                    "traded for something (term, upfront payment)"
                                    if self.product.max_discount_pct else "No discounts"),
                "max_discount_pct": self.product.max_discount_pct,
                "competitors": self.competitors}


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate one scenario's YAML text; ``ScenarioError`` names ``source`` and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", exc)
        raise ScenarioError(f"{source}:{where} invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping of scenario fields at the top level")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_field_path(tuple(e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ScenarioError(f"{source}: {problems}") from None


def load_scenario_file(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    scenario = parse_scenario(text, str(path))
    if scenario.id != path.stem:
        raise ScenarioError(f"{path}: id: {scenario.id!r} must match the file name {path.stem!r}")
    return scenario


def load_scenarios(directory: Path = SCENARIO_DIR) -> dict[str, Scenario]:
    """Every scenario in ``directory`` by id, in file-name order."""
    return {p.stem: load_scenario_file(p) for p in sorted(directory.glob("*.yaml"))}


@lru_cache(maxsize=1)
def library() -> dict[str, Scenario]:
    """The shipped scenario library (loaded and validated once per process)."""
    return load_scenarios()


def get_scenario(scenario_id: str) -> Scenario | None:
    return library().get(scenario_id)
