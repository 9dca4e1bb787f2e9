"""Retention per tenant: audio, transcripts and reports older than the tenant's settings
(``retention_*_days``) are deleted by the hourly beat job ``salescoach.privacy.retention``.

Idempotent: a second run over the same data deletes nothing. Age is counted from when a row
was stored (``created_at``). Work still in the pipeline (a recording queued or being
transcribed, an outbox item not yet sent) is left alone. Each run that deletes something
leaves a receipt (``privacy_receipts``, action ``retention``) and a log line.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from plugin.db import db
from plugin.models import (
    Call,
    OutboxItem,
    PracticeDrill,
    PracticeReply,
    PrivacyReceipt,
    Recording,
    Report,
    Tenant,
    Turn,
)
from plugin.privacy.erase import remove_files
from plugin.privacy.selection import inside, relative, safe_name
from plugin.tenant_settings import tenant_settings

log = logging.getLogger(__name__)

ACTOR = "system:retention"
KEPT_PAYLOAD = ("record_id", "record_type")  # what an old outbox row keeps of its payload


def enforce(tenant_id: str, instance_path: Path, now: datetime | None = None) -> dict[str, Any]:
    """Delete what the tenant keeps no longer; returns the counts (and receipt id if any)."""
    now = now or datetime.now(UTC)
    root = instance_path.resolve()
    files: list[Path] = []
    with db.session_scope() as s:
        conf = tenant_settings(s.get(Tenant, tenant_id))
        audio_cut = now - timedelta(days=conf["retention_audio_days"])
        text_cut = now - timedelta(days=conf["retention_transcript_days"])
        report_cut = now - timedelta(days=conf["retention_report_days"])
        ids: dict[str, list[Any]] = {}

        recs = list(s.scalars(select(Recording).where(
            Recording.tenant_id == tenant_id, Recording.created_at < audio_cut,
            Recording.status.in_(("done", "failed")))))
        files += [Path(r.path) for r in recs if r.path]
        ids["recordings"] = [r.id for r in recs]

        ids["turns"] = list(s.scalars(select(Turn.id).where(
            Turn.tenant_id == tenant_id, Turn.created_at < text_cut)))
        ids["practice_replies"] = list(s.scalars(select(PracticeReply.id).where(
            PracticeReply.tenant_id == tenant_id, PracticeReply.created_at < text_cut)))
        ids["practice_drills"] = list(s.scalars(select(PracticeDrill.id).where(
            PracticeDrill.tenant_id == tenant_id, PracticeDrill.created_at < text_cut)))

        reports = list(s.execute(select(Report.id, Report.call_id, Report.version).where(
            Report.tenant_id == tenant_id, Report.created_at < report_cut)))
        ids["reports"] = [r.id for r in reports]
        folder = root / "reports" / safe_name(tenant_id)
        files += [folder / f"{r.call_id}-v{r.version}.pdf" for r in reports]

        emptied = []
        for item in s.scalars(select(OutboxItem).where(
                OutboxItem.tenant_id == tenant_id, OutboxItem.created_at < report_cut,
                OutboxItem.status.in_(("done", "failed")))):
            payload = dict(item.payload or {})
            if set(payload) - set(KEPT_PAYLOAD):
                item.payload = {k: payload[k] for k in KEPT_PAYLOAD if k in payload}
                emptied.append(item.id)
        if emptied:
            ids["outbox_payloads_emptied"] = emptied
        summaries = []  # the live deep tier's call summary is report content too
        for call in s.scalars(select(Call).where(Call.tenant_id == tenant_id,
                                                 Call.created_at < report_cut)):
            if isinstance(call.metrics, dict) and "deep" in call.metrics:
                call.metrics = {k: v for k, v in call.metrics.items() if k != "deep"}
                summaries.append(call.id)
        if summaries:
            ids["call_summaries_emptied"] = summaries

        models = {"recordings": Recording, "turns": Turn, "practice_replies": PracticeReply,
                  "practice_drills": PracticeDrill, "reports": Report}
        for name, model in models.items():
            pk = model.__mapper__.primary_key[0]
            for i in range(0, len(ids[name]), 500):
                s.execute(delete(model).where(pk.in_(ids[name][i:i + 500])))
        ids = {k: v for k, v in ids.items() if v}
        files = [f for f in files if inside(f, root) and f.is_file()]
        counts = {k: len(v) for k, v in ids.items()}
        result: dict[str, Any] = {"tenant_id": tenant_id, "counts": counts,
                                  "settings": {k: v for k, v in conf.items()
                                               if k.startswith("retention_")}}
        if ids or files:
            receipt = PrivacyReceipt(tenant_id=tenant_id, action="retention",
                                     subject_kind="retention", subject_id="", actor=ACTOR,
                                     counts=counts, ids=ids,
                                     files=[relative(f, root) for f in files])
            s.add(receipt)
            s.flush()
            result["receipt_id"] = receipt.id
    result["files_removed"] = remove_files(files, [])
    if result.get("receipt_id"):
        log.info("retention for %s deleted %s and %d files (receipt %s)", tenant_id, counts,
                 result["files_removed"], result["receipt_id"])
    return result


def enforce_all(instance_path: Path, now: datetime | None = None) -> list[dict[str, Any]]:
    """Retention over every tenant (the beat job); one tenant's failure does not stop the rest."""
    with db.session_scope() as s:
        tenants = list(s.scalars(select(Tenant.id).order_by(Tenant.id)))
    out = []
    for tenant_id in tenants:
        try:
            out.append(enforce(tenant_id, instance_path, now))
        except Exception:  # noqa: BLE001 - logged; the next run retries
            log.exception("retention failed for tenant %s", tenant_id)
            out.append({"tenant_id": tenant_id, "error": True})
    return out
