"""Customer-facing call notes: what the CRM activity says, for the whole account team.

The activity is written for people who were not on the call: a summary, the pains and
objections the customer raised in their own words, the next steps agreed with owner and
date, the questions left open and a link to the full report. Scores and coaching critique
are the rep's and their manager's business and stay in Sales Coach, unless the tenant's
``crm_notes_include_coaching`` setting adds them.

Reads the report dict (``plugin.reports.build.build_report``) defensively: the coach's
report may gain or lose fields, and a missing one only shortens the notes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import Any

from plugin.reports.render import HTML_LIMIT, TEXT_LIMIT, fmt_ms, score_label

TENANT_SETTING = "crm_notes_include_coaching"
_WS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class CallNotes:
    """The activity's subject and its notes as plain text and as simple HTML."""

    subject: str
    text: str
    html: str
    sections: tuple[tuple[str, tuple[str, ...]], ...]


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _clean(text: Any, limit: int = 300) -> str:
    line = _WS.sub(" ", str(text or "")).strip()
    return line if len(line) <= limit else line[: limit - 1].rsplit(" ", 1)[0] + "…"


def _call_day(report: Mapping[str, Any]) -> date | None:
    started = (report.get("call") or {}).get("started_at")
    try:
        return datetime.fromisoformat(str(started)).date() if started else None
    except ValueError:
        return None


def _when(text: str, said_on: date | None) -> str:
    """The date a next step names ('by Friday' → 'Fri 5 Dec'), or ''."""
    from plugin.crm.customer import _WHEN, resolve_when

    if said_on is None:
        return ""
    m = _WHEN.search(text)
    d = resolve_when(m, said_on) if m else None
    return f"{d.strftime('%a')} {d.day} {d.strftime('%b')}" if d else ""


def _items(raw: Any) -> list[Mapping[str, Any]]:
    return [i if isinstance(i, Mapping) else {"text": str(i)} for i in raw or []
            if isinstance(i, Mapping | str)]


def next_steps(report: Mapping[str, Any], rep: str, customer: str) -> list[str]:
    """Agreed next steps and action items, each once: "<what> (owner: <who>, by <date>)"."""
    day = _call_day(report)
    out: list[str] = []
    seen: list[str] = []
    for item in _items(report.get("next_steps")) + _items(report.get("action_items")):
        text = _clean(item.get("text"), 240)
        key = _norm(text)
        if not key or any(key in s or s in key for s in seen):
            continue
        seen.append(key)
        who = item.get("owner") or item.get("speaker") or ""
        owner = rep if who == "rep" else customer if who == "customer" else str(who)
        extras = [f"owner: {owner}"] if owner else []
        when = _when(text, day)
        if when:
            extras.append(f"by {when}")
        out.append(text + (f" ({', '.join(extras)})" if extras else ""))
    return out


def pains_and_objections(report: Mapping[str, Any]) -> list[str]:
    """What the customer raised, quoted in their words, with the call time."""
    out: list[str] = []
    seen: set[str] = set()
    for o in _items(report.get("objections")):
        words = _clean(o.get("text"), 280)
        if not words or _norm(words) in seen:
            continue
        seen.add(_norm(words))
        label = str(o.get("label") or "concern").replace("_", " ")
        out.append(f"{label.capitalize()} ({fmt_ms(o.get('at_ms'))}): \"{words}\"")
    for m in _items(report.get("moments")):
        if m.get("kind") not in ("pain", "pain_point", "need", "concern"):
            continue
        words = _clean(m.get("text"), 280)
        if words and _norm(words) not in seen:
            seen.add(_norm(words))
            out.append(f"{str(m.get('kind')).replace('_', ' ').capitalize()} "
                       f"({fmt_ms(m.get('at_ms'))}): \"{words}\"")
    return out


def open_questions(report: Mapping[str, Any]) -> list[str]:
    """The customer's questions the call left unanswered, in their words."""
    out: list[str] = []
    seen: set[str] = set()
    for q in _items(report.get("unanswered_questions")):
        words = _clean(q.get("text"), 240)
        if words and _norm(words) not in seen:
            seen.add(_norm(words))
            out.append(f"\"{words}\"")
    return out


def competitors(report: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for m in _items(report.get("moments")):
        if m.get("kind") == "competitor":
            name = str(m.get("label") or m.get("text") or "").strip()
            if name and name.lower() not in {n.lower() for n in names}:
                names.append(name)
    return names


def summary(report: Mapping[str, Any], customer: str, steps: Sequence[str],
            pains: Sequence[str]) -> str:
    """A factual account of the call (never the coach's judgement of the rep)."""
    call = report.get("call") or {}
    day = _call_day(report)
    who = f" with {customer}" if customer and customer != "Customer" else ""
    when = f" on {day.day} {day.strftime('%b %Y')}" if day else ""
    parts = [f"{fmt_ms(call.get('duration_ms'))} call{who}{when}."]
    labels = []
    for o in _items(report.get("objections")):
        label = str(o.get("label") or "").replace("_", " ")
        if label and label not in labels:
            labels.append(label)
    if labels:
        parts.append(f"The customer raised {', '.join(labels)}.")
    elif pains:
        parts.append("The customer described their situation and needs.")
    names = competitors(report)
    if names:
        parts.append(f"Competitors mentioned: {', '.join(names)}.")
    parts.append(f"{len(steps)} next step{'s' if len(steps) != 1 else ''} agreed."
                 if steps else "No next step was agreed.")
    return " ".join(parts)


def coaching_sections(report: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """Scores, the coach's summary and tips: only when the tenant asks for them."""
    scores = report.get("scores") or {}
    return [("Coaching scores (Sales Coach)",
             [f"{score_label(k)}: {round(float(v))}" for k, v in scores.items()
              if isinstance(v, int | float)]),
            ("Coaching summary (Sales Coach)",
             [str(report["summary"])] if report.get("summary") else []),
            ("Coaching tips (Sales Coach)", [str(t) for t in report.get("tips") or []])]


def call_notes(report: Mapping[str, Any], report_url: str = "", *, rep: str = "",
               customer: str = "", include_coaching: bool = False) -> CallNotes:
    """The CRM activity's subject, text and HTML for one report (see the module doc)."""
    call = report.get("call") or {}
    rep = rep or "Rep"
    customer = customer or "Customer"
    steps = next_steps(report, rep, customer)
    pains = pains_and_objections(report)
    sections: list[tuple[str, list[str]]] = [
        ("Summary", [summary(report, customer, steps, pains)]),
        ("Pains and objections raised", pains),
        ("Agreed next steps", steps or ["None agreed on this call."]),
        ("Questions left open", open_questions(report)),
    ]
    if include_coaching:
        sections += coaching_sections(report)
    subject = f"Call notes: {call.get('title') or 'Call'}"[:255]
    text_lines = [subject]
    html_parts = [f"<p><b>{escape(subject)}</b></p>"]
    for title, items in sections:
        if not items:
            continue
        if title == "Summary":
            text_lines += ["", items[0]]
            html_parts.append(f"<p>{escape(items[0])}</p>")
            continue
        text_lines += ["", title + ":"] + [f"- {i}" for i in items]
        html_parts.append(f"<p><b>{escape(title)}</b></p><ul>"
                          + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>")
    if report_url:
        text_lines += ["", f"Full report (Sales Coach): {report_url}"]
        html_parts.append(f'<p><a href="{escape(report_url, quote=True)}">Full report '
                          "(Sales Coach)</a></p>")
    text = "\n".join(text_lines)
    if len(text) > TEXT_LIMIT:
        text = text[: TEXT_LIMIT - 200] + f"\n…\nFull report (Sales Coach): {report_url}"
    html = "".join(html_parts)
    if len(html) > HTML_LIMIT:
        html = html[: HTML_LIMIT - 300] + (
            f'…<p><a href="{escape(report_url, quote=True)}">Full report</a></p>'
            if report_url else "…")
    return CallNotes(subject, text, html,
                     tuple((t, tuple(i)) for t, i in sections if i))
