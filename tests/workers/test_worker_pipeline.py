"""A real Celery worker runs the post-call pipeline: upload → transcription (local Whisper) →
analysis → report → CRM write-back; bad audio ends in a failed state with the reason."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from plugin.security import Identity

pytestmark = pytest.mark.slow


def _status(client: Any, headers: dict[str, str], rid: str) -> dict[str, Any]:
    return client.get(f"/api/v1/recordings/{rid}", headers=headers).json


def _identity(app: Any, tenant_id: str, crm_user: str) -> tuple[Identity, dict[str, str]]:
    from plugin.db import db
    from plugin.tenancy import ensure_tenant, ensure_user

    with db.session_scope() as s:
        ensure_tenant(s, tenant_id, "salesforce")
        user = ensure_user(s, tenant_id, crm_user, name="Rep")
        ident = Identity(tenant_id=tenant_id, user_id=user.id, crm_user_id=crm_user)
    token = app.extensions["salescoach.signer"].issue(ident)
    return ident, {"Authorization": f"Bearer {token}"}


def test_uploaded_recording_becomes_a_report_on_a_real_worker(
        worker_app: Any, celery_worker: Any, call_wav: Path, wait_for: Any) -> None:
    # given an org without a CRM connection and a spoken stereo call
    client = worker_app.test_client()
    _ident, headers = _identity(worker_app, "sf:00DNOCRM", "005A")
    # when the rep uploads it
    resp = client.post("/api/v1/recordings", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(call_wav.read_bytes()), "call.wav")})
    assert resp.status_code == 202
    rid, call_id = resp.json["recording_id"], resp.json["call_id"]
    # then the worker transcribes, analyses and reports it; no CRM, so nothing is written back
    final = wait_for(lambda: (st := _status(client, headers, rid))["status"] in ("done", "failed")
                     and st, timeout=240, what="the recording to be processed")
    assert final["status"] == "done" and final["stage"] == "done", final
    assert final["report_version"] == 1 and final["writeback"] is None
    call = client.get(f"/api/v1/calls/{call_id}", headers=headers).json
    speakers = {t["speaker"] for t in call["turns"]}
    assert speakers == {"rep", "customer"}
    text = " ".join(t["text"] for t in call["turns"]).lower()
    assert "budget" in text and "proposal" in text
    report = client.get(f"/api/v1/calls/{call_id}/report", headers=headers).json
    assert any(o["label"] == "price" for o in report["objections"]), report["objections"]


def test_corrupt_audio_ends_failed_with_the_reason(worker_app: Any, celery_worker: Any,
                                                   wait_for: Any) -> None:
    client = worker_app.test_client()
    _ident, headers = _identity(worker_app, "sf:00DNOCRM", "005A")
    junk = b"RIFF\x24\x80\x00\x00WAVEfmt " + bytes(range(256)) * 40  # a WAV header, then noise
    resp = client.post("/api/v1/recordings", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(junk), "broken.wav")})
    assert resp.status_code == 202
    rid = resp.json["recording_id"]
    final = wait_for(lambda: (st := _status(client, headers, rid))["status"] == "failed" and st,
                     timeout=120, what="the corrupt recording to fail")
    assert final["error"] and final["report_version"] is None
    # the upload itself is kept (nothing lost), only the processing failed
    from plugin.db import db
    from plugin.models import Recording

    with db.session_scope() as s:
        rec = s.get(Recording, rid)
        assert rec is not None and Path(rec.path).is_file()


def test_recording_of_a_crm_contact_lands_as_one_activity_with_the_report(
        worker_app: Any, celery_worker: Any, crm: Any, call_wav: Path, wait_for: Any) -> None:
    # given an org connected to the CRM sandbox and a contact there
    crm.connect("sf:00DE2E000000001", "salesforce")
    record_id, record_type = crm.person()
    _ident, headers = _identity(worker_app, "sf:00DE2E000000001", "rep-1")
    client = worker_app.test_client()
    # when the rep uploads the call recording for that contact
    resp = client.post("/api/v1/recordings", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(call_wav.read_bytes()), "Acme discovery.wav"),
                             "record_id": record_id, "record_type": record_type})
    assert resp.status_code == 202, resp.json
    rid, call_id = resp.json["recording_id"], resp.json["call_id"]
    # then the pipeline ends with the activity written back once, with the report in it
    final = wait_for(lambda: (st := _status(client, headers, rid))["stage"] in
                     ("done", "writeback_failed") or st["status"] == "failed" and st,
                     timeout=300, what="the write-back")
    st = _status(client, headers, rid)
    assert st["stage"] == "done" and st["writeback"]["status"] == "done", st
    acts = crm.activities(call_id)
    assert len(acts) == 1 and acts[0]["id"] == st["writeback"]["crm_id"]
    data = acts[0]["data"]
    assert data["WhoId"] == record_id and data["TaskSubtype"] == "Call"
    # customer-facing notes: what was agreed, no coaching critique (docs/workers.md)
    assert "Agreed next steps" in data["Description"]
    assert "Coaching" not in data["Description"] and "score" not in data["Subject"].lower()
    assert f"/panel/calls/{call_id}?s=" in data["Description"]
    assert final


def test_upload_for_an_unknown_crm_record_is_refused(worker_app: Any, crm: Any) -> None:
    crm.connect("sf:00DE2E000000001", "salesforce")
    _ident, headers = _identity(worker_app, "sf:00DE2E000000001", "rep-1")
    client = worker_app.test_client()
    resp = client.post("/api/v1/recordings", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 200),
                                      "c.wav"), "record_id": "003000000000404AAA"})
    assert resp.status_code == 422 and resp.json["error"]["code"] == "unknown_record"


def test_upload_whose_message_was_lost_is_picked_up_by_the_sweep(
        worker_app: Any, celery_worker: Any, call_wav: Path, wait_for: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from plugin.db import db
    from plugin.models import Recording
    from plugin.pipeline.recordings import store_upload
    from plugin.pipeline.sweep import sweep

    # given an upload stored while the broker was unreachable (nothing was queued)
    settings = worker_app.config["SETTINGS"]
    ident, headers = _identity(worker_app, "sf:00DNOCRM", "005A")
    with call_wav.open("rb") as fh:
        stored = store_upload(settings, tenant_id=ident.tenant_id, user_id=ident.user_id,
                              filename="lost.wav", stream=fh)
    with db.session_scope() as s:
        rec = s.get(Recording, stored.recording_id)
        assert rec is not None
        rec.created_at = datetime.now(UTC) - timedelta(minutes=6)
    # when the periodic sweep runs
    with worker_app.app_context():
        assert sweep()["recordings"] >= 1
    # then the recording is processed after all
    client = worker_app.test_client()
    final = wait_for(lambda: (st := _status(client, headers, stored.recording_id))["status"]
                     in ("done", "failed") and st, timeout=240, what="the swept recording")
    assert final["status"] == "done" and final["report_version"] == 1


def test_live_call_abandoned_for_hours_is_ended_and_analysed_by_the_sweep(
        worker_app: Any, celery_worker: Any, wait_for: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from plugin.db import db
    from plugin.models import Call, Report, Turn
    from plugin.pipeline.sweep import sweep

    # given a live call whose panel closed three hours ago after two turns
    ident, _headers = _identity(worker_app, "sf:00DABANDON", "005A")
    old = datetime.now(UTC) - timedelta(hours=3)
    with db.session_scope() as s:
        call = Call(tenant_id=ident.tenant_id, user_id=ident.user_id, status="live",
                    source="panel", created_at=old, started_at=old)
        s.add(call)
        s.flush()
        call_id = call.id
        for seq, (speaker, text) in enumerate([
                ("rep", "What made you look at call coaching this quarter?"),
                ("customer", "Honestly the price you quoted is above our budget.")], 1):
            s.add(Turn(tenant_id=ident.tenant_id, call_id=call_id, seq=seq, speaker=speaker,
                       text=text, start_ms=seq * 4000, end_ms=seq * 4000 + 3000, created_at=old))
    # and one still in progress
    with db.session_scope() as s:
        fresh = Call(tenant_id=ident.tenant_id, user_id=ident.user_id, status="live")
        s.add(fresh)
        s.flush()
        fresh_id = fresh.id
    # when the sweep runs
    with worker_app.app_context():
        assert sweep()["abandoned_live"] == 1
    # then the abandoned call is ended and gets its report; the fresh one stays live
    def reported() -> bool:
        with db.session_scope() as s:
            return s.query(Report).filter(Report.call_id == call_id).count() > 0
    wait_for(reported, timeout=240, what="the abandoned call's report")
    with db.session_scope() as s:
        ended, still = s.get(Call, call_id), s.get(Call, fresh_id)
        assert ended is not None and ended.status in ("ended", "analysed")
        assert still is not None and still.status == "live"
