"""The post-call stages as plain functions over ids: transcribe → analyse + report → outbox.

Each stage is idempotent (safe to run twice for the same id) and records its progress on the
``Recording`` (stage, progress, error) so ``GET /api/v1/recordings/<id>`` can show it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from plugin.coach.types import Turn, Word
from plugin.db import db
from plugin.models import Call, OutboxItem, Playbook, Recording, Report, Tenant, User
from plugin.models import Turn as TurnRow
from plugin.pipeline import outbox
from plugin.pipeline.analysers import AnalysisInput, analysers
from plugin.providers.crm import CallActivity
from plugin.providers.errors import ProviderError, ProviderInputError
from plugin.reports.build import build_report
from plugin.reports.links import report_url
from plugin.reports.notes import TENANT_SETTING as NOTES_SETTING
from plugin.reports.notes import call_notes
from plugin.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]


class StageFailed(Exception):
    """A stage cannot succeed for this input (bad audio, no speech…); ``reason`` is shown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def set_recording(recording_id: str, **values: Any) -> None:
    with db.session_scope() as s:
        rec = s.get(Recording, recording_id)
        if rec is not None:
            for k, v in values.items():
                setattr(rec, k, v)


def set_recording_of_call(call_id: str, force: bool = False, **values: Any) -> None:
    with db.session_scope() as s:
        for rec in s.scalars(select(Recording).where(Recording.call_id == call_id)):
            if force or rec.status != "failed":
                for k, v in values.items():
                    setattr(rec, k, v)


def fail_recording(recording_id: str, reason: str) -> None:
    with db.session_scope() as s:
        rec = s.get(Recording, recording_id)
        if rec is None:
            return
        rec.status, rec.error = "failed", reason[:2000]
        if rec.call_id:
            call = s.get(Call, rec.call_id)
            if call is not None:
                call.status, call.error = "failed", reason[:2000]


# -- transcription ----------------------------------------------------------------------------

def _turn_rows(tenant_id: str, call_id: str, turns: list[Turn]) -> list[TurnRow]:
    return [TurnRow(tenant_id=tenant_id, call_id=call_id, seq=i, speaker=t.speaker, text=t.text,
                    start_ms=int(t.start_ms), end_ms=int(t.end_ms),
                    words=[{"text": w.text, "start_ms": w.start_ms, "end_ms": w.end_ms,
                            "confidence": w.confidence} for w in t.words])
            for i, t in enumerate(turns)]


def rep_voice_print(settings: Settings, tenant_id: str, user_id: int | None) -> Any:
    """The uploading rep's enrolled voice print (from live calls or practice), so a mono
    recording's "You" is the rep's voice rather than whoever spoke first; None if none."""
    from plugin.speech.voiceprint import VoicePrintStore

    return VoicePrintStore(settings.instance_path / "voiceprints").load(tenant_id, user_id)


def transcribe(recording_id: str, settings: Settings,
               progress: Progress | None = None) -> str | None:
    """Transcribe the recording into the call's turns; returns the call id, or None when the
    recording is gone, already failed, or already transcribed by an earlier run."""
    with db.session_scope() as s:
        rec = s.get(Recording, recording_id)
        if rec is None or rec.status == "failed" or rec.call_id is None:
            return None
        if rec.stage not in ("uploaded", "transcribing"):
            return rec.call_id  # an earlier delivery got past transcription
        rec.status, rec.stage, rec.progress = "running", "transcribing", 0
        path, call_id, tenant_id = Path(rec.path), rec.call_id, rec.tenant_id
        user_id = rec.user_id
    if not path.is_file():
        raise StageFailed(f"the uploaded file is missing from storage: {path.name}")

    last = [0.0, -1]

    def on_progress(fraction: float) -> None:
        pct = max(0, min(99, int(float(fraction) * 100)))
        now = time.monotonic()
        if pct != last[1] and (now - last[0] > 0.5 or pct - last[1] >= 10):
            last[0], last[1] = now, pct
            set_recording(recording_id, progress=pct)
        if progress is not None:
            progress("transcribe", float(fraction))

    from plugin.speech import get_stt

    try:
        turns = get_stt(settings).transcribe_file(path, progress=on_progress,
                                                  rep_print=rep_voice_print(settings, tenant_id,
                                                                            user_id))
    except (ProviderError, SoftTimeLimitExceeded):
        raise
    except Exception as exc:  # decoder errors from corrupt or truncated audio
        raise StageFailed(f"could not decode the audio: {exc}") from exc
    turns = [t for t in turns if t.text.strip()]
    if not turns:
        raise StageFailed("no speech was found in the recording")
    duration = max(t.end_ms for t in turns)
    with db.session_scope() as s:
        s.execute(delete(TurnRow).where(TurnRow.call_id == call_id))
        s.add_all(_turn_rows(tenant_id, call_id, turns))
        call = s.get(Call, call_id)
        if call is not None:
            call.duration_ms = max(call.duration_ms or 0, duration)
            call.status = "ended"
        rec = s.get(Recording, recording_id)
        if rec is not None:
            rec.stage, rec.progress = "analysing", 100
    if progress is not None:
        progress("transcribe", 1.0)
    return call_id


# -- analysis and report ----------------------------------------------------------------------

def load_turns(call_id: str) -> list[Turn]:
    with db.session_scope() as s:
        rows = s.scalars(select(TurnRow).where(TurnRow.call_id == call_id).order_by(TurnRow.seq))
        return [Turn(seq=r.seq, speaker=r.speaker,  # type: ignore[arg-type]
                     text=r.text, start_ms=r.start_ms, end_ms=r.end_ms,
                     words=tuple(Word(str(w.get("text", "")), int(w.get("start_ms", 0)),
                                      int(w.get("end_ms", 0)), float(w.get("confidence", 1.0)))
                                 for w in (r.words or []) if isinstance(w, dict)))
                for r in rows]


def _playbook_yaml(s: Any, tenant_id: str) -> str:
    tenant = s.get(Tenant, tenant_id)
    if tenant is not None and tenant.playbook_id is not None:
        pb = s.get(Playbook, tenant.playbook_id)
        if pb is not None and pb.tenant_id == tenant_id:
            return str(pb.yaml_text)
    return ""


def source_hash(turns: list[Turn], playbook_yaml: str, names: list[str]) -> str:
    """Fingerprint of what a report is made from: same inputs → same report version."""
    h = hashlib.sha256()
    h.update(json.dumps([[t.seq, t.speaker, t.text, t.start_ms, t.end_ms] for t in turns]).encode())
    h.update(playbook_yaml.encode())
    h.update(",".join(names).encode())
    return h.hexdigest()


def call_meta(call: Call) -> dict[str, Any]:
    started = call.started_at or call.created_at
    return {"id": call.id, "tenant_id": call.tenant_id, "title": call.title or "Call",
            "record_id": call.record_id, "record_type": call.record_type, "source": call.source,
            "direction": call.direction, "user_id": call.user_id,
            "started_at": started.isoformat() if started else None,
            "duration_ms": call.duration_ms}


def analyse(call_id: str, settings: Settings, progress: Progress | None = None) -> int | None:
    """Run the analysers over the call's turns and store the report (a new version only when
    its inputs changed). Returns the report version, or None when there is nothing to do."""
    with db.session_scope() as s:
        call = s.get(Call, call_id)
        if call is None:
            return None
        pending = s.scalar(select(Recording).where(
            Recording.call_id == call_id, Recording.stage.in_(("uploaded", "transcribing"))))
        if pending is not None:
            return None  # the transcription stage will submit the analysis
        meta, tenant_id = call_meta(call), call.tenant_id
        playbook_yaml = _playbook_yaml(s, tenant_id)
        latest = s.scalar(select(Report).where(Report.call_id == call_id)
                          .order_by(Report.version.desc()).limit(1))
        latest_version, latest_hash = (latest.version, (latest.data or {}).get("source_hash")) \
            if latest else (0, None)
    turns = load_turns(call_id)
    if not turns:
        raise StageFailed("the call has no transcript to analyse")
    set_recording_of_call(call_id, stage="analysing", status="running")
    chosen = list(analysers(settings))
    digest = source_hash(turns, playbook_yaml, [a.name for a in chosen])
    if latest_hash == digest:
        return latest_version
    data = AnalysisInput(call_id=call_id, tenant_id=tenant_id, turns=tuple(turns),
                         playbook_yaml=playbook_yaml, meta=meta,
                         use_embeddings=None if settings.embeddings else False)
    results: dict[str, dict[str, Any]] = {}
    for i, analyser in enumerate(chosen):
        results[analyser.name] = analyser.analyse(data)
        if progress is not None:
            progress("analyse", (i + 1) / len(chosen))
    set_recording_of_call(call_id, stage="reporting")
    version = latest_version + 1
    report = build_report(meta, turns, results, version, digest)
    try:
        with db.session_scope() as s:
            s.add(Report(tenant_id=tenant_id, call_id=call_id, version=version, data=report))
            call = s.get(Call, call_id)
            if call is not None:
                call.status, call.error = "analysed", ""
                call.metrics = dict(call.metrics or {}, scores=report["scores"])
    except IntegrityError:  # a concurrent run stored this version first
        log.info("call %s: report v%s already stored by another run", call_id, version)
    if progress is not None:
        progress("report", 1.0)
    return version


# -- write-back -------------------------------------------------------------------------------

def crm_adapter(session: Any, tenant_id: str, settings: Settings, record_id: str = "") -> Any:
    """The tenant's CRM adapter (the one ``record_id`` belongs to when it has two), or None
    when it has no CRM connection."""
    from plugin.crm import adapter_for

    return adapter_for(session, tenant_id, settings, record_id=record_id)


def activity_for(report: dict[str, Any], settings: Settings, *, rep: str = "",
                 customer: str = "", include_coaching: bool = False) -> CallActivity:
    """The CRM activity of a report: customer-facing call notes (``plugin.reports.notes``);
    scores and coaching critique only when the tenant's setting asks for them."""
    call = report.get("call") or {}
    url = report_url(settings, str(call.get("tenant_id", "")), str(call.get("id", "")))
    started = call.get("started_at")
    notes = call_notes(report, url, rep=rep, customer=customer,
                       include_coaching=include_coaching)
    return CallActivity(
        record_id=str(call.get("record_id") or ""), record_type=str(call.get("record_type") or ""),
        subject=notes.subject, body_text=notes.text, body_html=notes.html,
        started_at=datetime.fromisoformat(started) if started else datetime.now(UTC),
        duration_s=int((call.get("duration_ms") or 0) // 1000),
        direction="inbound" if call.get("direction") == "inbound" else "outbound",
        report_url=url, extra={"call_id": str(call.get("id", "")),
                               "report_version": str(report.get("version", 1))},
    )


def notes_options(session: Any, report: dict[str, Any], adapter: Any) -> dict[str, Any]:
    """Who the notes name as owners (the rep, the customer from the CRM) and whether the
    tenant adds coaching to them. A CRM that cannot be read only makes the names generic."""
    call = report.get("call") or {}
    tenant = session.get(Tenant, str(call.get("tenant_id", "")))
    include = bool((tenant.settings or {}).get(NOTES_SETTING)) if tenant is not None else False
    user = session.get(User, call.get("user_id")) if call.get("user_id") else None
    customer = ""
    try:
        from plugin.crm import interactive

        ctx = interactive(adapter).customer_context(str(call.get("record_id") or ""),
                                                    str(call.get("record_type") or ""))
        customer = str(ctx.person.get("name") or ctx.company.get("name") or "")
    except ProviderError as exc:
        log.info("notes of call %s: customer name unavailable: %s", call.get("id"), exc)
    return {"rep": user.name if user is not None else "", "customer": customer,
            "include_coaching": include}


def queue_writeback(call_id: str, version: int, settings: Settings) -> int | None:
    """Persist the outbox row for this report version (once); returns its id, or None when the
    call has no CRM record or the tenant no CRM connection (the report stays in Sales Coach)."""
    with db.session_scope() as s:
        report = s.scalar(select(Report).where(Report.call_id == call_id,
                                               Report.version == version))
        if report is None:
            raise StageFailed(f"report v{version} of call {call_id} is missing")
        existing = s.scalar(select(OutboxItem).where(
            OutboxItem.idempotency_key == outbox.idempotency_key(call_id, version)))
        if existing is not None:
            return existing.id
        data, tenant_id = dict(report.data), report.tenant_id
        record_id = str((data.get("call") or {}).get("record_id") or "")
        if not record_id:
            return None
        adapter = crm_adapter(s, tenant_id, settings, record_id)
        if adapter is None:
            return None
        try:
            kind = adapter.for_record(record_id).kind if hasattr(adapter, "for_record") \
                else adapter.kind
            activity = activity_for(data, settings, **notes_options(s, data, adapter))
            item = outbox.ensure_item(s, tenant_id=tenant_id, call_id=call_id, version=version,
                                      crm=kind, activity=activity)
            return item.id
        except IntegrityError:
            pass
    with db.session_scope() as s:  # lost a race with a concurrent run: use its row
        item_id = s.scalar(select(OutboxItem.id).where(
            OutboxItem.idempotency_key == outbox.idempotency_key(call_id, version)))
        return int(item_id) if item_id is not None else None


def rewrite_notes(tenant_id: str, settings: Settings, limit: int = 500) -> list[int]:
    """Outbox rows that rewrite, in place, the tenant's activities already in the CRM whose
    notes differ from what the current notes (and the tenant's setting) give, e.g. calls
    written before the customer-facing notes. Each distinct text is queued once (its key
    ends with a hash of it), so asking twice queues nothing more. Returns the new row ids."""
    created: list[int] = []
    with db.session_scope() as s:
        done = s.scalars(select(OutboxItem).where(
            OutboxItem.tenant_id == tenant_id, OutboxItem.kind == "call_activity",
            OutboxItem.status == "done", OutboxItem.crm_id != "")
            .order_by(OutboxItem.id.desc()).limit(limit)).all()
        latest: dict[str, OutboxItem] = {}
        for row in done:
            if row.call_id:
                latest.setdefault(row.call_id, row)
        adapter = None
        for call_id, row in latest.items():
            report = s.scalar(select(Report).where(Report.call_id == call_id,
                                                   Report.tenant_id == tenant_id)
                              .order_by(Report.version.desc()).limit(1))
            if report is None:
                continue
            data = dict(report.data)
            record_id = str((data.get("call") or {}).get("record_id") or "")
            if adapter is None:
                adapter = crm_adapter(s, tenant_id, settings, record_id)
                if adapter is None:
                    return []
            activity = activity_for(data, settings, **notes_options(s, data, adapter))
            # report links carry their issue time (they expire), so compare the notes with
            # the link left out: a fresher link alone is no reason to rewrite
            old = row.payload or {}
            linkless = activity.body_text.replace(activity.report_url, "")
            if linkless == str(old.get("body_text") or "").replace(
                    str(old.get("report_url") or "") or "\0", ""):
                continue
            digest = hashlib.sha256(linkless.encode()).hexdigest()[:12]
            key = f"{outbox.idempotency_key(call_id, report.version)}:notes-{digest}"
            if s.scalar(select(OutboxItem.id).where(OutboxItem.idempotency_key == key)):
                continue
            item = OutboxItem(tenant_id=tenant_id, idempotency_key=key, call_id=call_id,
                              kind="call_activity", crm=row.crm,
                              payload=outbox.activity_to_payload(activity), status="pending",
                              updated_at=outbox.utcnow())
            s.add(item)
            s.flush()
            created.append(item.id)
    return created


def mark_writeback(call_id: str, delivery: outbox.Delivery) -> None:
    """Reflect the write-back outcome on the call's recording (if any)."""
    if delivery.outcome in ("done", "already_done"):
        set_recording_of_call(call_id, force=True, stage="done", status="done", progress=100,
                              error="")
    elif delivery.outcome == "failed":
        set_recording_of_call(call_id, force=True, stage="writeback_failed", status="failed",
                              error=f"CRM write-back failed: {delivery.error}"[:2000])
    elif delivery.outcome == "retry":
        set_recording_of_call(call_id, stage="writing_back")


__all__ = ["StageFailed", "transcribe", "analyse", "queue_writeback", "mark_writeback",
           "rewrite_notes",
           "load_turns", "fail_recording", "set_recording", "ProviderInputError"]
