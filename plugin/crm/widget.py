"""The record, last call and score trend the CRM widgets show (contracts.md, "CRM entry
points and widget context"); the entry points add connected/connect_url/panel_url."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.models import Call, Report
from plugin.providers.errors import ProviderError
from plugin.reports.links import report_url
from plugin.settings import Settings

log = logging.getLogger(__name__)


def call_score(data: dict[str, Any]) -> int | None:
    """A report's headline score: ``scores.overall`` if present, else the mean of its scores."""
    scores = {k: v for k, v in dict(data.get("scores") or {}).items()
              if isinstance(v, int | float) and not isinstance(v, bool)}
    if not scores:
        return None
    if "overall" in scores:
        return int(round(scores["overall"]))
    return int(round(sum(scores.values()) / len(scores)))


def call_history(session: Session, tenant_id: str, record_id: str, settings: Settings,
                 limit: int = 10, *, calls_visible: Any = None,
                 ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(last_call, trend oldest→newest) for a CRM record from our Call/Report tables;
    ``calls_visible`` (a WHERE clause, ``plugin.tenancy.visible_filter``) keeps to the calls
    the viewer may see."""
    q = select(Call).where(Call.tenant_id == tenant_id, Call.record_id == record_id)
    if calls_visible is not None:
        q = q.where(calls_visible)
    calls = session.scalars(q.order_by(Call.created_at.desc()).limit(limit)).all()
    last: dict[str, Any] | None = None
    trend: list[dict[str, Any]] = []
    for call in calls:
        report = session.scalar(select(Report).where(Report.tenant_id == tenant_id,
                                                     Report.call_id == call.id)
                                .order_by(Report.version.desc()).limit(1))
        if report is None:
            continue
        day = (call.started_at or call.created_at).date().isoformat()
        score = call_score(report.data)
        trend.append({"date": day, "score": score})
        if last is None:
            last = {"call_id": call.id, "date": day, "score": score,
                    "tips": [str(t) if not isinstance(t, dict) else str(t.get("text", t))
                             for t in list(report.data.get("tips") or [])[:3]],
                    "report_url": report_url(settings, tenant_id, call.id)}
    trend.reverse()
    return last, trend


def record_summary(session: Session, tenant_id: str, record_id: str, record_type: str,
                   settings: Settings) -> dict[str, Any]:
    """``{"id", "type", "name", "company"}`` from the CRM (cached); id/type only when the CRM
    cannot be read, with ``warning`` saying why."""
    from plugin.crm.factory import adapter_for, interactive

    record: dict[str, Any] = {"id": record_id, "type": record_type, "name": "", "company": ""}
    if not record_id:
        return record
    adapter = adapter_for(session, tenant_id, settings, record_id=record_id)
    if adapter is None:
        return record
    interactive(adapter)  # a widget is waiting
    try:
        ctx = adapter.customer_context(record_id, record_type)
    except ProviderError as exc:
        log.info("widget context: CRM read failed for %s/%s: %s", tenant_id, record_id, exc)
        record["warning"] = exc.message
        return record
    record["type"] = record_type or ctx.record_type
    record["name"] = ctx.person.get("name") or ctx.company.get("name") or ""
    record["company"] = ctx.company.get("name") or ""
    if ctx.person.get("title"):
        record["title"] = ctx.person["title"]
    record["highlights"] = list(ctx.highlights[:3])
    return record


def widget_context(session: Session, tenant_id: str, record_id: str, record_type: str,
                   settings: Settings, *, calls_visible: Any = None) -> dict[str, Any]:
    """``{"record", "last_call", "trend"}`` for the widget of one CRM record."""
    last, trend = call_history(session, tenant_id, record_id, settings,
                               calls_visible=calls_visible)
    return {"record": record_summary(session, tenant_id, record_id, record_type, settings),
            "last_call": last, "trend": trend}
