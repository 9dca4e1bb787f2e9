"""Retention per tenant, run by a real Celery worker as the beat job sends it: what is older
than the tenant's settings goes (rows and files), work in progress and newer data stay, and
a second run deletes nothing (idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from plugin.db import db
from plugin.models import (
    Call,
    OutboxItem,
    PracticeReply,
    PracticeSession,
    PrivacyReceipt,
    Recording,
    Report,
    Turn,
)
from plugin.pipeline.recordings import recordings_dir
from plugin.tenancy import ensure_tenant, ensure_user
from workers.celery_app import celery_config

TENANT = "sf:00DRETAIN"
OTHER = "sf:00DKEEPALL"  # default settings (audio 90 days): its 40-day-old audio stays


def _seed(settings: Any, tenant: str, now: datetime) -> dict[str, Any]:
    def ago(days: int) -> datetime:
        return now - timedelta(days=days)

    folder = recordings_dir(settings, tenant)
    out: dict[str, Any] = {}
    with db.session_scope() as s:
        ensure_tenant(s, tenant, "salesforce").settings = {
            "retention_audio_days": 30, "retention_transcript_days": 60,
            "retention_report_days": 90} if tenant == TENANT else {}
        user = ensure_user(s, tenant, "005R")
        call = Call(tenant_id=tenant, user_id=user.id, status="analysed", created_at=ago(100),
                    metrics={"talk_ratio": 0.5, "deep": {"summary": "they want a discount"}})
        s.add(call)
        s.flush()
        for name, days, status in (("old", 40, "done"), ("new", 5, "done"),
                                   ("busy", 40, "running")):
            path = folder / f"{tenant[-6:]}-{name}.wav"
            path.write_bytes(b"RIFF" + b"\0" * 60)
            rec = Recording(tenant_id=tenant, call_id=call.id, filename=path.name, path=str(path),
                            status=status, created_at=ago(days))
            s.add(rec)
            out[f"rec_{name}"] = path
        s.add_all([Turn(tenant_id=tenant, call_id=call.id, seq=1, speaker="rep", text="old",
                        start_ms=0, end_ms=1, created_at=ago(70)),
                   Turn(tenant_id=tenant, call_id=call.id, seq=2, speaker="rep", text="new",
                        start_ms=1, end_ms=2, created_at=ago(10))])
        session = PracticeSession(tenant_id=tenant, user_id=user.id, scenario_id="x",
                                  created_at=ago(70))
        s.add(session)
        s.flush()
        s.add(PracticeReply(tenant_id=tenant, session_id=session.id, seq=1, buyer_text="b",
                            reply_text="old reply", created_at=ago(70)))
        s.add_all([Report(tenant_id=tenant, call_id=call.id, version=1, created_at=ago(95)),
                   Report(tenant_id=tenant, call_id=call.id, version=2, created_at=ago(20))])
        pdfs = settings.instance_path / "reports" / tenant.replace(":", "_")
        pdfs.mkdir(parents=True, exist_ok=True)
        out["pdf_old"], out["pdf_new"] = pdfs / f"{call.id}-v1.pdf", pdfs / f"{call.id}-v2.pdf"
        for p in (out["pdf_old"], out["pdf_new"]):
            p.write_bytes(b"%PDF-1.4")
        s.add_all([OutboxItem(tenant_id=tenant, idempotency_key=f"{tenant}:done", crm="salesforce",
                              status="done", crm_id="00T1", created_at=ago(95),
                              payload={"record_id": "003A", "body_text": "notes"}),
                   OutboxItem(tenant_id=tenant, idempotency_key=f"{tenant}:pending",
                              crm="salesforce", status="pending", created_at=ago(95),
                              payload={"record_id": "003A", "body_text": "notes"})])
        out["call_id"] = call.id
    return out


def _counts(tenant: str) -> dict[str, Any]:
    with db.session_scope() as s:
        def n(model: Any) -> int:
            return int(s.scalar(select(func.count()).select_from(model)
                                .where(model.tenant_id == tenant)) or 0)

        payloads = {o.status: o.payload for o in s.scalars(
            select(OutboxItem).where(OutboxItem.tenant_id == tenant))}
        metrics = [c.metrics for c in s.scalars(select(Call).where(Call.tenant_id == tenant))]
        return {"metrics": metrics, "recordings": n(Recording), "turns": n(Turn),
                "replies": n(PracticeReply),
                "reports": n(Report), "payloads": payloads,
                "receipts": int(s.scalar(select(func.count()).select_from(PrivacyReceipt).where(
                    PrivacyReceipt.tenant_id == tenant)) or 0)}


def test_the_beat_schedule_runs_retention_hourly(worker_app: Any) -> None:
    entry = celery_config(worker_app.config["SETTINGS"])["beat_schedule"]["salescoach-retention"]
    assert entry["task"] == "salescoach.privacy.retention" and entry["schedule"] == 3600.0
    assert "salescoach.privacy.retention" in worker_app.extensions["celery"].tasks


def test_retention_deletes_what_is_older_once(worker_app: Any, celery_worker: Any,
                                             wait_for: Any) -> None:
    settings = worker_app.config["SETTINGS"]
    now = datetime.now(UTC)
    mine, other = _seed(settings, TENANT, now), _seed(settings, OTHER, now)
    celery_app = worker_app.extensions["celery"]
    # when the worker runs the job the beat entry sends (no arguments: every tenant)
    first = celery_app.send_task("salescoach.privacy.retention")
    wait_for(lambda: _counts(TENANT)["receipts"] == 1, timeout=60, what="retention receipt")
    got = _counts(TENANT)
    # then old audio (not the one still transcribing), old transcripts and reports went
    assert got["recordings"] == 2 and got["turns"] == 1 and got["replies"] == 0
    assert got["reports"] == 1
    assert not mine["rec_old"].exists() and mine["rec_new"].exists() and mine["rec_busy"].exists()
    assert not mine["pdf_old"].exists() and mine["pdf_new"].exists()
    # sent write-backs keep only the record they went to; unsent ones keep their payload
    assert got["payloads"]["done"] == {"record_id": "003A"}
    assert got["payloads"]["pending"]["body_text"] == "notes"
    assert got["metrics"] == [{"talk_ratio": 0.5}]  # the call stays, its deep summary goes
    # the other tenant (default 90 days of audio, 365 of the rest) lost nothing
    kept = _counts(OTHER)
    assert kept["recordings"] == 3 and kept["turns"] == 2 and kept["reports"] == 2
    assert other["rec_old"].exists() and kept["receipts"] == 0
    with db.session_scope() as s:
        receipt = s.scalar(select(PrivacyReceipt).where(PrivacyReceipt.tenant_id == TENANT))
        assert receipt is not None and receipt.action == "retention"
        assert receipt.counts == {"recordings": 1, "turns": 1, "practice_replies": 1,
                                  "reports": 1, "outbox_payloads_emptied": 1,
                                  "call_summaries_emptied": 1}
        assert sorted(Path(f).name for f in receipt.files) == sorted(
            [mine["rec_old"].name, mine["pdf_old"].name])
    # and a second run (beat fires again) deletes nothing and leaves no new receipt
    wait_for(lambda: first.id in _DONE, timeout=60, what="first retention run")
    second = celery_app.send_task("salescoach.privacy.retention", args=[TENANT])
    wait_for(lambda: second.id in _DONE, timeout=60, what="second retention run")
    assert _counts(TENANT) == got


_DONE: list[str] = []  # ids of tasks the worker finished (the test broker keeps no results)


def _record_done(sender: Any = None, task_id: str = "", **_: Any) -> None:
    _DONE.append(task_id)


def setup_module() -> None:
    from celery.signals import task_postrun

    task_postrun.connect(_record_done, weak=False)


def teardown_module() -> None:
    from celery.signals import task_postrun

    task_postrun.disconnect(_record_done)
