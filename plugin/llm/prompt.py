"""Prompts for cloud models: redacted, structured, and parseable by a local counterpart.

The transcript travels as a JSON block between markers so that a model reads it easily
and the local Gemini-protocol server (plugin.devservers.gemini) can answer from it with
the local engine.
"""

from __future__ import annotations

import json
from typing import Any

from plugin.llm.base import DeepRequest
from plugin.privacy import redact

BEGIN, END = "<<<CALL_JSON", "CALL_JSON>>>"
MAX_TURNS = 24  # the deep tier looks at the recent exchange, not the whole call

SYSTEM = (
    "You are a sales coach listening to a live B2B sales call. The rep is the seller. "
    "Answer only with JSON matching the schema. Be concrete and brief: one line the rep can "
    "say next, grounded in the playbook's battlecards and the customer's CRM history."
)

TASKS = {
    "advise": "Judge how the rep handled the customer's last point and suggest the next line.",
    "summarise": "Summarise the call so far with action items, next steps and risks.",
}


def _names(request: DeepRequest) -> list[str]:
    ctx = request.context
    if ctx is None:
        return []
    return [str(v) for k, v in ctx.person.items() if k in ("name", "first_name", "last_name") and v]


def request_payload(request: DeepRequest) -> dict[str, Any]:
    """The redacted JSON the model sees."""
    names = _names(request)
    turns = list(request.turns)[-MAX_TURNS:]
    ctx = request.context
    return {
        "turns": [{"seq": t.seq, "speaker": t.speaker, "text": redact(t.text, names),
                   "start_ms": t.start_ms, "end_ms": t.end_ms} for t in turns],
        "customer": {
            "company": (ctx.company.get("name", "") if ctx else ""),
            "title": (ctx.person.get("title", "") if ctx else ""),
            "history": [redact(h, names) for h in (ctx.highlights if ctx else ())],
        },
        "battlecards": list(request.battlecards),
        "objection_playbook": list(request.objections),
    }


def build_prompt(task: str, request: DeepRequest) -> str:
    payload = json.dumps(request_payload(request), ensure_ascii=False)
    return f"{TASKS[task]}\nTASK={task}\n{BEGIN}\n{payload}\n{END}"


def parse_prompt(prompt: str) -> tuple[str, dict[str, Any]]:
    """Inverse of ``build_prompt`` (for the local server): (task, payload)."""
    task = prompt.split("TASK=", 1)[1].split("\n", 1)[0].strip()
    body = prompt.split(BEGIN, 1)[1].split(END, 1)[0]
    return task, json.loads(body)
