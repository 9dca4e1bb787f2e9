"""The report as a PDF (reportlab), with the same charts as the page (matplotlib PNGs)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    KeepTogether,
    ListFlowable,
    ListItem,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from plugin.reports import charts
from plugin.reports.build import overall_score
from plugin.reports.render import fmt_ms, score_label


def _bullets(items: list[str], style: ParagraphStyle) -> ListFlowable:
    return ListFlowable([ListItem(Paragraph(escape(str(i)), style)) for i in items],
                        bulletType="bullet", leftIndent=12)


def report_pdf(report: Mapping[str, Any], report_url: str = "") -> bytes:
    """A4 PDF of the full report: summary, scores, charts, objections, actions, tips."""
    styles = getSampleStyleSheet()
    body, h1, h2 = styles["BodyText"], styles["Title"], styles["Heading2"]
    small = ParagraphStyle("small", parent=body, fontSize=8, textColor=colors.grey)
    call = report.get("call") or {}
    story: list[Any] = [
        Paragraph(escape(str(call.get("title") or "Call report")), h1),
        Paragraph(escape(f"{str(call.get('started_at') or '')[:16].replace('T', ' ')} · "
                         f"duration {fmt_ms(call.get('duration_ms'))} · "
                         f"{call.get('turns', 0)} turns · report v{report.get('version', 1)}"),
                  small),
        Spacer(1, 4 * mm),
    ]
    score = overall_score(report)
    if score is not None:
        story.append(Paragraph(f"<b>Overall score: {score}</b>", styles["Heading3"]))
    if report.get("summary"):
        story.append(Paragraph(escape(str(report["summary"])), body))
    scores = report.get("scores") or {}
    if scores:
        table = Table([[score_label(k), f"{round(float(v))}"] for k, v in scores.items()],
                      colWidths=[70 * mm, 20 * mm], hAlign="LEFT")
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                                   ("FONTSIZE", (0, 0), (-1, -1), 9)]))
        story += [Spacer(1, 3 * mm), table]
    if report.get("tips"):
        story += [Paragraph("Coaching tips", h2), _bullets(list(report["tips"]), body)]
    for name, (title, _fn) in charts.CHARTS.items():
        png = charts.render(name, report, "png")
        img = Image(io.BytesIO(png), width=170 * mm, height=170 * mm * 0.3)
        story.append(KeepTogether([Paragraph(escape(title), h2), img]))
    objections = report.get("objections") or []
    if objections:
        story.append(Paragraph("Objections and how they were handled", h2))
        for o in objections:
            handled = "acknowledged first" if o.get("acknowledged") else "not acknowledged"
            story.append(Paragraph(
                f"<b>{escape(str(o.get('label')))}</b> at {fmt_ms(o.get('at_ms'))} ({handled})<br/>"
                f"<i>Customer:</i> “{escape(str(o.get('text', '')))}”<br/>"
                f"<i>Rep:</i> “{escape(str(o.get('response', '')))}”", body))
            story.append(Spacer(1, 2 * mm))
    for key, title in (("action_items", "Action items"), ("next_steps", "Next steps")):
        if report.get(key):
            story += [Paragraph(title, h2), _bullets(list(report[key]), body)]
    questions = [q for q in report.get("questions") or [] if isinstance(q, Mapping)]
    if questions:
        n_open = sum(1 for q in questions if q.get("open"))
        story += [Paragraph("Questions asked", h2),
                  Paragraph(f"{len(questions)} questions, {n_open} open.", body),
                  _bullets([str(q.get("text", "")) for q in questions[:20]], body)]
    if report_url:
        story += [Spacer(1, 4 * mm), Paragraph(f'Online: <link href="{escape(report_url)}">'
                                               f"{escape(report_url)}</link>", small)]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                            topMargin=16 * mm, bottomMargin=16 * mm,
                            title=str(call.get("title") or "Call report"), author="Sales Coach")
    doc.build(story)
    return buf.getvalue()
