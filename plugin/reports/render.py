"""Compact renderings of a report for the CRM activity: plain text (Salesforce
``Description``, ≤ 32,000 chars) and simple HTML (HubSpot ``hs_call_body``)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from plugin.reports.build import overall_score

TEXT_LIMIT = 32_000
HTML_LIMIT = 65_000


def fmt_ms(ms: float | int | None) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a duration in milliseconds."""
    total = int((ms or 0) // 1000)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def score_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def subject(report: Mapping[str, Any]) -> str:
    call = report.get("call") or {}
    score = overall_score(report)
    title = str(call.get("title") or "Call")
    tail = f" (score {score})" if score is not None else ""
    return f"Sales Coach report: {title}{tail}"[:255]


def _sections(report: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    scores = report.get("scores") or {}
    objections = [
        f"{o.get('label', 'objection')} at {fmt_ms(o.get('at_ms'))}: \"{o.get('text', '')}\""
        + (" (acknowledged)" if o.get("acknowledged") else " (not acknowledged)")
        for o in report.get("objections") or []
    ]
    return [
        ("Scores", [f"{score_label(k)}: {round(float(v))}" for k, v in scores.items()]),
        ("Objections", objections),
        ("Action items", list(report.get("action_items") or [])),
        ("Next steps", list(report.get("next_steps") or [])),
        ("Coaching tips", list(report.get("tips") or [])),
    ]


def to_text(report: Mapping[str, Any], report_url: str = "") -> str:
    """The compact text version written into the CRM activity."""
    call = report.get("call") or {}
    lines = [subject(report), f"Duration {fmt_ms(call.get('duration_ms'))}, "
             f"{call.get('turns', 0)} turns, report v{report.get('version', 1)}"]
    if report.get("summary"):
        lines += ["", str(report["summary"])]
    for title, items in _sections(report):
        if items:
            lines += ["", title + ":"] + [f"- {i}" for i in items]
    if report_url:
        lines += ["", f"Full report: {report_url}"]
    text = "\n".join(lines)
    if len(text) > TEXT_LIMIT:
        text = text[: TEXT_LIMIT - 200] + f"\n…\nFull report: {report_url}"
    return text


def to_html(report: Mapping[str, Any], report_url: str = "") -> str:
    """The compact HTML version (HubSpot call body)."""
    call = report.get("call") or {}
    parts = [f"<p><b>{escape(subject(report))}</b><br>Duration {fmt_ms(call.get('duration_ms'))}, "
             f"{int(call.get('turns', 0))} turns, report v{int(report.get('version', 1))}</p>"]
    if report.get("summary"):
        parts.append(f"<p>{escape(str(report['summary']))}</p>")
    for title, items in _sections(report):
        if items:
            parts.append(f"<p><b>{escape(title)}</b></p><ul>"
                         + "".join(f"<li>{escape(str(i))}</li>" for i in items) + "</ul>")
    if report_url:
        parts.append(f'<p><a href="{escape(report_url, quote=True)}">Open the full report</a></p>')
    html = "".join(parts)
    return html if len(html) <= HTML_LIMIT else html[: HTML_LIMIT - 100] + "…</p>"
