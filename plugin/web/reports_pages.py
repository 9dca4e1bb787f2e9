"""Calls and post-call reports: panel pages, JSON, PDF, and the admin outbox.

Pages: ``/panel/calls`` (the rep's calls, score trend, upload), ``/panel/calls/<id>`` (the
report; also opens with a signed read-only ``?s=`` link from the CRM activity),
``/admin/outbox`` (admins: write-back state, retry failed rows).
JSON: ``/api/v1/calls``, ``/api/v1/calls/<id>``, ``/api/v1/calls/<id>/report``,
``/api/v1/calls/<id>/report.pdf``, ``POST /api/v1/calls/<id>/analyze``,
``/api/v1/admin/outbox``, ``POST /api/v1/admin/outbox/<id>/retry``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin import audit
from plugin.db import request_session
from plugin.models import Call, Nudge, OutboxAttempt, OutboxItem, Recording, Report, Turn, utcnow
from plugin.pipeline import submit_call
from plugin.pipeline.dispatch import DELIVER, enqueue
from plugin.pipeline.outbox import reset_for_retry
from plugin.reports import charts
from plugin.reports.build import overall_score
from plugin.reports.links import ShareLinkError, read_share_token, report_url
from plugin.reports.pdf import report_pdf
from plugin.reports.render import fmt_ms, score_label
from plugin.security import Identity
from plugin.settings import Settings
from plugin.tenancy import get_owned, visible, visible_filter
from plugin.web.auth import authenticate, current_identity, require_identity
from plugin.web.errors import ApiError
from plugin.web.inputs import arg_int, arg_str
from plugin.web.panel import render_panel

bp = Blueprint("reports_pages", __name__)

# A report version never changes, so its charts are drawn once per process.
_SVG_CACHE: OrderedDict[tuple[int, str], str] = OrderedDict()
_SVG_CACHE_SIZE = 256
_SVG_LOCK = threading.Lock()


def chart_svgs(report: Report) -> dict[str, tuple[str, str]]:
    """name -> (title, inline SVG) of the report's charts, cached by report row."""
    out = {}
    for name, (title, _fn) in charts.CHARTS.items():
        key = (report.id, name)
        with _SVG_LOCK:
            svg = _SVG_CACHE.get(key)
        if svg is None:
            svg = charts.inline_svg(charts.render(name, report.data))
            with _SVG_LOCK:
                _SVG_CACHE[key] = svg
                while len(_SVG_CACHE) > _SVG_CACHE_SIZE:
                    _SVG_CACHE.popitem(last=False)
        out[name] = (title, svg)
    return out


def cached_pdf(report: Report, url: str) -> bytes:
    """The report's PDF, rendered once per version into ``<instance>/reports/``."""
    folder = _settings().instance_path / "reports" / re.sub(r"[^A-Za-z0-9_.-]", "_",
                                                            report.tenant_id)
    path = folder / f"{report.call_id}-v{report.version}.pdf"
    if path.is_file():
        return path.read_bytes()
    pdf = report_pdf(report.data, url)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
    tmp.write_bytes(pdf)
    tmp.replace(path)
    return pdf


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def latest_report(s: Session, call_id: str, version: int | None = None) -> Report | None:
    q = select(Report).where(Report.call_id == call_id)
    if version is not None:
        q = q.where(Report.version == version)
    return s.scalar(q.order_by(Report.version.desc()).limit(1))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def call_rows(s: Session, ident: Identity, limit: int = 100) -> list[dict[str, Any]]:
    """The calls the identity may see (own; a manager's team; an admin's whole org), newest
    first, with their scores."""
    q = select(Call).where(visible_filter(s, Call, ident))
    calls = list(s.scalars(q.order_by(Call.created_at.desc()).limit(limit)))
    versions = dict(s.execute(select(Report.call_id, func.max(Report.version))
                              .where(Report.call_id.in_([c.id for c in calls]))
                              .group_by(Report.call_id)).all()) if calls else {}
    out = []
    for c in calls:
        report = latest_report(s, c.id, versions[c.id]) if c.id in versions else None
        data = report.data if report else {}
        out.append({"id": c.id, "title": c.title or "Call", "source": c.source,
                    "status": c.status, "record_id": c.record_id, "record_type": c.record_type,
                    "started_at": _iso(c.started_at or c.created_at), "duration_ms": c.duration_ms,
                    "report_version": versions.get(c.id),
                    "score": overall_score(data) if data else None,
                    "scores": data.get("scores", {}) if data else {}, "error": c.error or None})
    return out


def trend_points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"date": (r["started_at"] or "")[:10], "score": r["score"], "call_id": r["id"]}
            for r in reversed(rows) if r["score"] is not None]


# -- JSON -------------------------------------------------------------------------------------

@bp.get("/api/v1/calls")
@require_identity
def api_calls() -> Any:
    limit = arg_int("limit", 100, 1, 500, code="invalid_limit")
    rows = call_rows(request_session(), current_identity(), limit)
    return jsonify(calls=rows, trend=trend_points(rows))


@bp.get("/api/v1/calls/<call_id>")
@require_identity
def api_call(call_id: str) -> Any:
    s = request_session()
    ident = current_identity()
    call = visible(s, Call, call_id, ident, "call")
    turns = s.scalars(select(Turn).where(Turn.call_id == call_id).order_by(Turn.seq))
    nudges = s.scalars(select(Nudge).where(Nudge.call_id == call_id).order_by(Nudge.at_ms))
    rec = s.scalar(select(Recording).where(Recording.call_id == call_id))
    item = s.scalar(select(OutboxItem).where(OutboxItem.call_id == call_id)
                    .order_by(OutboxItem.id.desc()).limit(1))
    report = latest_report(s, call_id)
    return jsonify(
        id=call.id, title=call.title, status=call.status, source=call.source,
        direction=call.direction, record_id=call.record_id, record_type=call.record_type,
        started_at=_iso(call.started_at or call.created_at), ended_at=_iso(call.ended_at),
        duration_ms=call.duration_ms, error=call.error or None,
        report_version=report.version if report else None,
        turns=[{"seq": t.seq, "speaker": t.speaker, "text": t.text, "start_ms": t.start_ms,
                "end_ms": t.end_ms} for t in turns],
        nudges=[{"at_ms": n.at_ms, "category": n.category, "severity": n.severity,
                 "text": n.text, "rule": n.rule, "source": n.source} for n in nudges],
        recording={"id": rec.id, "status": rec.status, "stage": rec.stage,
                   "progress": rec.progress, "error": rec.error or None} if rec else None,
        writeback={"status": item.status, "crm": item.crm, "crm_id": item.crm_id or None,
                   "attempts": item.attempts, "error": item.last_error or None} if item else None,
    )


def _report_or_409(s: Session, call: Call) -> Report:
    version = arg_int("version", 0, 1, 1_000_000, code="invalid_version") or None
    report = latest_report(s, call.id, version)
    if report is None:
        if version:
            raise ApiError(404, "not_found", f"report version {version} not found")
        raise ApiError(409, "report_not_ready", "the report is not ready yet",
                       call_status=call.status, error=call.error or None)
    return report


@bp.get("/api/v1/calls/<call_id>/report")
@require_identity
def api_report(call_id: str) -> Any:
    s = request_session()
    call = visible(s, Call, call_id, current_identity(), "call")
    return jsonify(_report_or_409(s, call).data)


@bp.get("/api/v1/calls/<call_id>/report.pdf")
def api_report_pdf(call_id: str) -> Any:
    """The report as a PDF; accepts the session token or the signed ``?s=`` report link."""
    s = request_session()
    call = _viewed_call(s, call_id)
    report = _report_or_409(s, call)
    pdf = cached_pdf(report, report_url(_settings(), call.tenant_id, call_id))
    name = f"sales-coach-report-{call_id[:8]}-v{report.version}.pdf"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.post("/api/v1/calls/<call_id>/analyze")
@require_identity
def api_reanalyse(call_id: str) -> Any:
    """Run the analysis again (a new report version only if its inputs changed)."""
    s = request_session()
    call = visible(s, Call, call_id, current_identity(), "call", act=True)
    if call.status == "live":
        raise ApiError(409, "call_live", "the call is still live; it is analysed when it ends")
    submit_call(call.id)
    return jsonify(call_id=call.id, queued=True), 202


# -- pages ------------------------------------------------------------------------------------

@bp.post("/api/v1/calls/<call_id>/share")
@require_identity
def api_share(call_id: str) -> Any:
    """A read-only report link for someone without a session (expires, revocable)."""
    call = visible(request_session(), Call, call_id, current_identity(), "call")
    settings = _settings()
    return jsonify(url=report_url(settings, call.tenant_id, call.id),
                   expires_in=settings.share_link_ttl_s), 201


@bp.post("/api/v1/calls/<call_id>/share/revoke")
@require_identity
def api_share_revoke(call_id: str) -> Any:
    """Revoke every report link of the call issued so far (its owner or an admin)."""
    s = request_session()
    call = visible(s, Call, call_id, current_identity(), "call", act=True)
    call.shares_revoked_at = utcnow()
    s.commit()
    return jsonify(call_id=call.id, revoked_at=call.shares_revoked_at.isoformat())


def _shared_call(s: Session, call_id: str, token: str) -> Call:
    """The call a signed ``?s=`` report link opens: 401 when forged or for another call,
    410 when expired or revoked."""
    try:
        link = read_share_token(_settings(), token)
    except ShareLinkError as exc:
        if exc.reason == "expired":
            raise ApiError(410, "link_expired", "this report link has expired; ask for a "
                           "new one") from None
        raise ApiError(401, "unauthorized", "invalid report link") from None
    if link.call_id != call_id:
        raise ApiError(401, "unauthorized", "invalid report link")
    call = get_owned(s, Call, call_id, link.tenant_id, "call")
    if link.revoked_by(call.shares_revoked_at):
        raise ApiError(410, "link_revoked", "this report link was revoked")
    return call


def _viewed_call(s: Session, call_id: str) -> Call:
    """The call as a signed report link or the session's viewer may see it."""
    share = request.args.get("s", "")
    if share:
        return _shared_call(s, call_id, share)
    return visible(s, Call, call_id, authenticate(), "call")


def report_context(s: Session, call: Call, report: Report | None) -> dict[str, Any]:
    data = report.data if report else {}
    svgs = chart_svgs(report) if report is not None and data else {}
    turns = list(s.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.seq)))
    rec = s.scalar(select(Recording).where(Recording.call_id == call.id))
    item = s.scalar(select(OutboxItem).where(OutboxItem.call_id == call.id)
                    .order_by(OutboxItem.id.desc()).limit(1))
    return {"call": call, "report": data, "version": report.version if report else None,
            "score": overall_score(data) if data else None, "charts": svgs, "turns": turns,
            "recording": rec, "writeback": item, "fmt_ms": fmt_ms, "score_label": score_label}


@bp.get("/panel/calls")
def calls_page() -> Any:
    ident = authenticate()
    rows = call_rows(request_session(), ident)
    trend_svg = charts.inline_svg(charts.render_trend(trend_points(rows)))
    return render_panel("calls.html", calls=rows, trend_svg=trend_svg, fmt_ms=fmt_ms,
                        max_mb=_settings().max_upload_mb)


@bp.get("/panel/calls/<call_id>")
def report_page(call_id: str) -> Any:
    s = request_session()
    if request.args.get("s"):
        call = _shared_call(s, call_id, request.args["s"])
        guest = Identity(tenant_id=call.tenant_id, user_id=0, name="Shared report")
        ctx = report_context(s, call, latest_report(s, call_id))
        return render_template("report.html", identity=guest, tabs=[], token="",
                               share=request.args["s"], **ctx)
    call = visible(s, Call, call_id, authenticate(), "call")
    ctx = report_context(s, call, latest_report(s, call_id))
    return render_panel("report.html", share="", **ctx)


# -- admin outbox -----------------------------------------------------------------------------

def _require_admin() -> Identity:
    ident = authenticate()
    if ident.role != "admin":
        raise ApiError(403, "forbidden", "only an admin of this org can see the CRM outbox")
    return ident


def outbox_rows(s: Session, tenant_id: str, status: str = "") -> list[dict[str, Any]]:
    q = select(OutboxItem).where(OutboxItem.tenant_id == tenant_id)
    if status:
        q = q.where(OutboxItem.status == status)
    items = list(s.scalars(q.order_by(OutboxItem.id.desc()).limit(200)))
    out = []
    for it in items:
        attempts = s.scalars(select(OutboxAttempt).where(OutboxAttempt.outbox_id == it.id)
                             .order_by(OutboxAttempt.id))
        out.append({"id": it.id, "call_id": it.call_id, "crm": it.crm, "kind": it.kind,
                    "status": it.status, "crm_id": it.crm_id or None, "attempts": it.attempts,
                    "last_error": it.last_error or None, "idempotency_key": it.idempotency_key,
                    "subject": (it.payload or {}).get("subject", ""),
                    "updated_at": _iso(it.updated_at), "next_attempt_at": _iso(it.next_attempt_at),
                    "history": [{"outcome": a.outcome, "status_code": a.status_code,
                                 "error": a.error or None, "at": _iso(a.created_at)}
                                for a in attempts]})
    return out


STATUSES = ("", "pending", "sending", "done", "failed")


@bp.get("/api/v1/admin/outbox")
def api_outbox() -> Any:
    ident = _require_admin()
    status = arg_str("status", 32, code="invalid_status")
    if status not in STATUSES:
        raise ApiError(400, "invalid_status", f"status must be one of {', '.join(STATUSES[1:])}")
    return jsonify(items=outbox_rows(request_session(), ident.tenant_id, status))


@bp.post("/api/v1/admin/outbox/<int:item_id>/retry")
def api_outbox_retry(item_id: int) -> Any:
    """Send a failed write-back again (same idempotency key, so never a duplicate)."""
    ident = _require_admin()
    s = request_session()
    item = get_owned(s, OutboxItem, item_id, ident.tenant_id, "outbox item")
    if item.status != "failed":
        raise ApiError(409, "not_failed",
                       f"only failed items can be retried (this one is {item.status})")
    reset_for_retry(s, item)
    audit.record(s, ident.tenant_id, ident, "outbox.retry", f"outbox:{item.id}")
    s.commit()
    enqueue(DELIVER, item.id)
    return jsonify(id=item.id, status="pending"), 202


@bp.get("/admin/outbox")
def outbox_page() -> Any:
    ident = _require_admin()
    return render_panel("outbox.html", items=outbox_rows(request_session(), ident.tenant_id))
