"""The judge's training data: the bundled corpora as rows with a label per task.

Three sources, all in ``plugin/coach/data`` and all written for training (never the
evaluation sets in ``tests/data/eval`` or ``shared/eval``):

* ``moments_train.jsonl``: customer objections and look-alikes, buying signals, next steps
  (objection and moment labels only);
* ``lines_train.jsonl``: single lines labelled to the shared guide (objection, question,
  next step, risky, buying signal, acknowledgement);
* ``calls_train/*.json``: scripted calls; each turn is a row whose context is the turn
  before it, which is how the judge learns that an answer to a question is not an objection.

A task a source does not label is ``None`` for its rows and they are left out of that task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugin.coach.analysers.features import NO_CONTEXT, Context
from plugin.coach.playbook import OBJECTION_TYPES

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

# task -> (speakers it applies to, classes; the first class is the negative one)
TASKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "objection": (("customer",), ("none", *OBJECTION_TYPES)),
    "buying_signal": (("customer",), ("no", "yes")),
    "next_step": (("customer", "rep"), ("no", "yes")),
    "risky": (("rep",), ("no", "yes")),
    "ack": (("rep",), ("no", "yes")),
    "question": (("customer", "rep"), ("none", "open", "closed")),
}


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    speaker: str
    labels: dict[str, str | None]
    context: Context = NO_CONTEXT
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _yes(flag: bool | None) -> str | None:
    return None if flag is None else ("yes" if flag else "no")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def moments_rows(path: Path) -> list[Row]:
    """The first corpus: objection + moment labels; question and acknowledgement unknown."""
    out = []
    for r in _read_jsonl(path):
        cust = r["speaker"] == "customer"
        moments = set(r.get("moments") or ())
        out.append(Row(r["text"], r["speaker"], {
            "objection": (r.get("objection") or "none") if cust else None,
            "buying_signal": _yes("buying_signal" in moments) if cust else None,
            "next_step": _yes("next_step" in moments),
            "risky": None if cust else _yes("risky" in moments),
            "ack": None, "question": None,
        }, source=path.name))
    return out


def line_labels(r: dict[str, Any]) -> dict[str, str | None]:
    """Per-task labels of a line in the shared guide's schema (+ ``acknowledgement``)."""
    cust = r["speaker"] == "customer"
    ack = r.get("acknowledgement")
    return {
        "objection": r["objection"] if cust else None,
        "buying_signal": _yes(bool(r["buying_signal"])) if cust else None,
        "next_step": _yes(bool(r["next_step"])),
        "risky": None if cust else _yes(bool(r["risky"])),
        "ack": None if cust or ack is None else _yes(bool(ack)),
        "question": r["question"],
    }


def lines_rows(path: Path) -> list[Row]:
    return [Row(r["text"], r["speaker"], line_labels(r), source=path.name,
                meta={"id": r.get("id"), "hard_negative": r.get("hard_negative", False)})
            for r in _read_jsonl(path)]


def turn_labels(turn: dict[str, Any], before: dict[str, Any] | None) -> dict[str, str | None]:
    """Per-task labels of a call turn from its ``expect`` tags."""
    tags = set(turn["expect"])
    cust = turn["speaker"] == "customer"
    objection = next((t.split(":", 1)[1] for t in tags if t.startswith("objection:")), "none")
    question = next((t.split(":", 1)[1] for t in tags if t.startswith("question:")), "none")
    after_objection = (before is not None and before["speaker"] == "customer"
                       and any(t.startswith("objection:") for t in before["expect"]))
    return {
        "objection": objection if cust else None,
        "buying_signal": _yes("buying_signal" in tags) if cust else None,
        "next_step": _yes("next_step" in tags),
        "risky": None if cust else _yes("risky" in tags),
        "ack": (_yes("no_acknowledgement" not in tags) if not cust and after_objection
                else None),
        "question": question,
    }


def context_of(before: dict[str, Any] | None) -> Context:
    """The context a turn is judged in, from the labelled turn before it."""
    if before is None:
        return NO_CONTEXT
    tags = set(before["expect"])
    q = next((t.split(":", 1)[1] for t in tags if t.startswith("question:")), "none")
    obj = next((t.split(":", 1)[1] for t in tags if t.startswith("objection:")), None)
    return Context(before["speaker"], q, obj, "next_step" in tags)


def call_rows(call: dict[str, Any], source: str = "") -> list[Row]:
    turns = call["turns"]
    out = []
    for i, turn in enumerate(turns):
        before = turns[i - 1] if i else None
        out.append(Row(turn["text"], turn["speaker"], turn_labels(turn, before),
                       context_of(before), source=source or call.get("id", ""),
                       meta={"call": call.get("id"), "turn": i}))
    return out


def calls_rows(folder: Path) -> list[Row]:
    out: list[Row] = []
    if folder.is_dir():
        for p in sorted(folder.glob("*.json")):
            out += call_rows(json.loads(p.read_text(encoding="utf-8")), p.stem)
    return out


def training_rows(data_dir: Path = DATA_DIR) -> list[Row]:
    """Every bundled training row, in a fixed order (training is deterministic)."""
    return (moments_rows(data_dir / "moments_train.jsonl")
            + lines_rows(data_dir / "lines_train.jsonl")
            + calls_rows(data_dir / "calls_train"))
