"""Scenarios per tenant: validation with line-precise errors, the tenant's library, assignments
with due dates, the team's progress, and "rehearse this customer" scenarios built from a CRM
record's context.

A tenant's scenarios are stored as the YAML the manager wrote (``PracticeScenario``); a
session keeps a snapshot of the scenario it was started on in its state, so editing or
deleting a scenario never breaks a session in progress or its scorecard.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from functools import lru_cache
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.models import PracticeAssignment, PracticeScenario, PracticeSession, User, utcnow
from plugin.practice.scenarios import Scenario, ScenarioError, library

MAX_YAML_CHARS = 100_000
MAX_SCENARIOS = 200


class ScenarioProblems(ScenarioError):
    """A scenario text is invalid; ``problems`` lists ``{"line", "field", "message"}``."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        super().__init__("; ".join(
            (f"line {p['line']}: " if p.get("line") else "") + (
                f"{p['field']}: " if p.get("field") else "") + p["message"] for p in problems))


def _node_lines(node: Any, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    """Every value path of a composed YAML tree -> its 1-based line (keys point at the key)."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            out[sub] = key.start_mark.line + 1
            _node_lines(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = (*path, i)
            out[sub] = item.start_mark.line + 1
            _node_lines(item, sub, out)


def _line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    """The line of ``loc``, or of its nearest ancestor present in the YAML (a missing field is
    reported at the mapping that lacks it)."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate_yaml(text: str) -> Scenario:
    """The scenario in ``text``, or ``ScenarioProblems`` with the line and field of each
    problem (YAML syntax, unknown or missing fields, wrong types, bad values)."""
    if len(text) > MAX_YAML_CHARS:
        raise ScenarioProblems([{"line": None, "field": "", "message":
                                 f"the scenario has {len(text)} characters; the limit is "
                                 f"{MAX_YAML_CHARS}"}])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScenarioProblems([{"line": mark.line + 1 if mark else None, "field": "",
                                 "message": f"invalid YAML: {getattr(exc, 'problem', exc)}"}]) \
            from None
    if not isinstance(data, dict) or node is None:
        raise ScenarioProblems([{"line": 1, "field": "", "message":
                                 "expected a mapping of scenario fields at the top level"}])
    lines: dict[tuple[Any, ...], int] = {}
    _node_lines(node, (), lines)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith(
                ("function-", "literal["))))
            problems.append({"line": _line_of(lines, loc), "field": _field(loc) or "(top level)",
                             "message": e["msg"]})
        problems.sort(key=lambda p: (p["line"] or 0, p["field"]))
        raise ScenarioProblems(problems) from None


@lru_cache(maxsize=256)
def _parsed(digest: str, text: str) -> Scenario:
    return validate_yaml(text)


def scenario_from_yaml(text: str) -> Scenario:
    """A stored scenario's model (cached by content)."""
    return _parsed(hashlib.sha256(text.encode()).hexdigest(), text)


def tenant_scenarios(s: Session, tenant_id: str) -> dict[str, Scenario]:
    """The tenant's own scenarios by id (one that no longer validates is skipped)."""
    out: dict[str, Scenario] = {}
    for row in s.scalars(select(PracticeScenario).where(PracticeScenario.tenant_id == tenant_id)
                         .order_by(PracticeScenario.scenario_id)):
        try:
            out[row.scenario_id] = scenario_from_yaml(row.yaml_text)
        except ScenarioError:
            continue
    return out


def available(s: Session, tenant_id: str) -> dict[str, Scenario]:
    """What a rep of ``tenant_id`` can practise: the shipped library, then the tenant's own."""
    return {**library(), **tenant_scenarios(s, tenant_id)}


def save_scenario(s: Session, tenant_id: str, text: str) -> tuple[Scenario, bool]:
    """Validate and store (create or replace) a tenant scenario; True when it was created.
    A shipped scenario's id can't be reused."""
    scenario = validate_yaml(text)
    if scenario.id in library():
        raise ScenarioProblems([{"line": 1, "field": "id", "message":
                                 f"{scenario.id!r} is a shipped scenario; choose another id"}])
    row = s.scalar(select(PracticeScenario).where(PracticeScenario.tenant_id == tenant_id,
                                                  PracticeScenario.scenario_id == scenario.id))
    created = row is None
    if row is None:
        count = len(list(s.scalars(select(PracticeScenario.id).where(
            PracticeScenario.tenant_id == tenant_id))))
        if count >= MAX_SCENARIOS:
            raise ScenarioProblems([{"line": None, "field": "", "message":
                                     f"a tenant can keep at most {MAX_SCENARIOS} scenarios"}])
        row = PracticeScenario(tenant_id=tenant_id, scenario_id=scenario.id)
        s.add(row)
    row.title = scenario.title[:255]
    row.yaml_text = text
    row.updated_at = utcnow()
    s.flush()
    return scenario, created


def delete_scenario(s: Session, tenant_id: str, scenario_id: str) -> bool:
    row = s.scalar(select(PracticeScenario).where(PracticeScenario.tenant_id == tenant_id,
                                                  PracticeScenario.scenario_id == scenario_id))
    if row is None:
        return False
    s.delete(row)
    s.flush()
    return True


def form_yaml(form: dict[str, str]) -> str:
    """A scenario's YAML from the admin page's short form (one objection, one closing).

    Fields: id, title, summary, product_name, product_summary, value_points (lines), pricing
    (lines), max_discount_pct, persona_name, persona_role, persona_company, temperament, goals
    (lines), opening, objection (the buyer's line), key_points (lines "label: keyword, keyword"),
    next_step (a model next step).
    """
    def lines(name: str) -> list[str]:
        return [ln.strip() for ln in str(form.get(name, "")).splitlines() if ln.strip()]

    def slug(text: str) -> str:
        return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "point"

    key_points = []
    for ln in lines("key_points"):
        label, _, kws = ln.partition(":")
        words = [k.strip().lower() for k in kws.split(",") if k.strip()] or [label.strip().lower()]
        key_points.append({"id": slug(label), "label": label.strip(), "keywords": words,
                           "examples": [label.strip()], "probe": f"What about {label.strip()}?"})
    try:
        discount: Any = int(str(form.get("max_discount_pct") or 0))
    except ValueError:
        discount = str(form.get("max_discount_pct"))
    objection = str(form.get("objection", "")).strip()
    data = {
        "id": str(form.get("id", "")).strip(), "title": str(form.get("title", "")).strip(),
        "summary": str(form.get("summary", "")).strip(), "difficulty": "medium",
        "product": {"name": str(form.get("product_name", "")).strip(),
                    "summary": str(form.get("product_summary", "")).strip(),
                    "value_points": lines("value_points"), "pricing": lines("pricing"),
                    "max_discount_pct": discount},
        "persona": {"name": str(form.get("persona_name", "")).strip(),
                    "role": str(form.get("persona_role", "")).strip(),
                    "company": str(form.get("persona_company", "")).strip(),
                    "temperament": str(form.get("temperament", "")).strip() or "direct",
                    "goals": lines("goals") or ["Make a safe decision"],
                    "style": {"press": ["I'm not convinced."], "accept": ["Okay, that helps."],
                              "risky": "Can you put that in writing?",
                              "impatient": "I need something concrete soon."}},
        "opening": str(form.get("opening", "")).strip() or "Thanks for calling.",
        "objections": [{"id": "main", "type": "need",
                        "phrasings": [objection, f"I'm still not sure. {objection}"],
                        "key_points": key_points,
                        "acknowledge": "That's a fair concern.",
                        "confirm": "Does that answer it?",
                        "reactions": {"good": ["Okay, that helps."],
                                      "partial": ["Maybe, go on."],
                                      "weak": ["That doesn't answer it."]}}],
        "closing": {"ask": "So what do you suggest as a next step?",
                    "key_points": [{"id": "concrete_next_step",
                                    "label": "Propose a concrete next step with a date",
                                    "keywords": ["schedule", "book", "next week", "monday",
                                                 "tuesday", "wednesday", "thursday", "friday",
                                                 "invite"],
                                    "examples": [str(form.get("next_step", "")).strip()
                                                 or "Let's book a call next Tuesday."],
                                    "probe": "When, exactly?"}],
                    "agreed": "Fine, send me the invite.",
                    "walkout": "I don't think this is for us. Thanks."},
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# Assignments and team progress ---------------------------------------------------------------
def assign(s: Session, tenant_id: str, scenario_id: str, user_ids: list[int],
           due: date | None, note: str, by: str) -> list[PracticeAssignment]:
    rows = []
    for uid in user_ids:
        row = PracticeAssignment(tenant_id=tenant_id, scenario_id=scenario_id, user_id=uid,
                                 due_date=due, note=note[:500], assigned_by=by[:255])
        s.add(row)
        rows.append(row)
    s.flush()
    return rows


def _finished(s: Session, tenant_id: str) -> list[PracticeSession]:
    return list(s.scalars(select(PracticeSession).where(
        PracticeSession.tenant_id == tenant_id, PracticeSession.status == "finished")
        .order_by(PracticeSession.finished_at)))


def assignment_view(row: PracticeAssignment, sessions: list[PracticeSession],
                    today: date | None = None) -> dict[str, Any]:
    """One assignment with its status: done (a session of it finished after it was assigned),
    overdue, or open."""
    def aware(dt: Any) -> Any:
        return dt.replace(tzinfo=None) if dt is not None and dt.tzinfo else dt

    done = [x for x in sessions if x.user_id == row.user_id and x.scenario_id == row.scenario_id
            and x.finished_at is not None and aware(x.finished_at) >= aware(row.created_at)]
    today = today or utcnow().date()
    status = "done" if done else ("overdue" if row.due_date and row.due_date < today else "open")
    best = max((x.scorecard.get("overall") or 0 for x in done), default=None)
    return {"id": row.id, "scenario_id": row.scenario_id, "user_id": row.user_id,
            "due_date": row.due_date.isoformat() if row.due_date else None, "note": row.note,
            "assigned_by": row.assigned_by, "status": status, "best": best,
            "created_at": row.created_at.isoformat() if row.created_at else None}


def assignments_for(s: Session, tenant_id: str, user_id: int | None = None) -> list[dict[str, Any]]:
    q = select(PracticeAssignment).where(PracticeAssignment.tenant_id == tenant_id)
    if user_id is not None:
        q = q.where(PracticeAssignment.user_id == user_id)
    rows = list(s.scalars(q.order_by(PracticeAssignment.due_date, PracticeAssignment.id)))
    sessions = _finished(s, tenant_id)
    return [assignment_view(r, sessions) for r in rows]


def team_progress(s: Session, tenant_id: str) -> dict[str, Any]:
    """Per rep: sessions, average and last overall, per-skill averages, and a weekly series
    of the overall and each skill (ISO weeks, oldest first); plus the assignments."""
    users = {u.id: u for u in s.scalars(select(User).where(User.tenant_id == tenant_id))}
    per: dict[int, dict[str, Any]] = {}
    for row in _finished(s, tenant_id):
        card = row.scorecard or {}
        if card.get("overall") is None:
            continue
        u = users.get(row.user_id)
        rep = per.setdefault(row.user_id, {
            "user_id": row.user_id, "name": (u.name or u.crm_user_id) if u else str(row.user_id),
            "sessions": 0, "scores": [], "skills": {"tone": [], "content": [], "strategy": []},
            "weeks": {}})
        rep["sessions"] += 1
        rep["scores"].append(card["overall"])
        when = row.finished_at or row.created_at
        week = f"{when.isocalendar()[0]}-W{when.isocalendar()[1]:02d}"
        wk = rep["weeks"].setdefault(week, {"week": week, "overall": [], "tone": [],
                                            "content": [], "strategy": []})
        wk["overall"].append(card["overall"])
        for skill in ("tone", "content", "strategy"):
            v = (card.get("averages") or {}).get(skill)
            if v is not None:
                rep["skills"][skill].append(v)
                wk[skill].append(v)

    def avg(values: list[float]) -> int | None:
        return round(sum(values) / len(values)) if values else None

    reps = []
    for rep in per.values():
        scores = rep.pop("scores")
        skills = {k: avg(v) for k, v in rep.pop("skills").items()}
        weeks = [{k: (avg(v) if isinstance(v, list) else v) for k, v in w.items()}
                 for w in sorted(rep.pop("weeks").values(), key=lambda w: w["week"])]
        weakest = min(((v, k) for k, v in skills.items() if v is not None), default=None)
        reps.append({**rep, "average": avg(scores), "last": scores[-1], "skills": skills,
                     "focus": weakest[1] if weakest else None, "weeks": weeks})
    reps.sort(key=lambda r: str(r["name"]))
    return {"reps": reps, "assignments": assignments_for(s, tenant_id)}
