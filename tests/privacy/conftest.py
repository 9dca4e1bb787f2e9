"""Privacy fixtures: a person's whole footprint, made through the real code paths (upload,
report PDF, practice API, voice print store, live bus), and a scan of every table."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from plugin.db import db
from plugin.models import (
    Base,
    Nudge,
    OutboxAttempt,
    OutboxItem,
    PracticeSession,
    Recording,
    Report,
    Turn,
    User,
)
from plugin.practice.customer import customer_scenario_id
from plugin.security import Identity
from plugin.tenancy import ensure_tenant, ensure_user

DEMO_WAV = Path(__file__).resolve().parents[2] / "plugin" / "demo_calls" / "price_objection.wav"


@dataclass
class Footprint:
    """What one call of a rep with a contact left behind."""

    tenant_id: str
    rep: Identity
    contact: str
    marker: str  # a unique word in the call's transcript, report, outbox and the rehearsal
    rep_marker: str  # a unique word in the rep's name, email, practice reply and drill
    call_id: str = ""
    recording_id: str = ""
    recording_path: Path = Path()
    pdf_path: Path = Path()
    bus_folder: Path = Path()
    voiceprint: Path = Path()
    practice_session: str = ""
    customer_session: str = ""
    crm_id: str = ""
    ids: dict[str, list[Any]] = field(default_factory=dict)


def admin_of(tenant_id: str, crm_user_id: str = "005ADMIN") -> Identity:
    with db.session_scope() as s:
        ensure_tenant(s, tenant_id, "salesforce")
        u = ensure_user(s, tenant_id, crm_user_id, name="Ada Admin", role="admin")
        return Identity(tenant_id=tenant_id, user_id=u.id, crm_user_id=crm_user_id,
                        name=u.name, role="admin")


def make_footprint(app: Any, client: Any, tenants: Any, tenant_id: str, rep_crm: str,
                   contact: str) -> Footprint:
    """A call with recording, transcript, nudges, report (+ cached PDF), a CRM-written outbox
    row with its attempt, live-bus events, the rep's voice print, a practice session with a
    reply, a drill, and a practice session rehearsing the contact."""
    from plugin.live.bus import FileBus
    from plugin.pipeline.recordings import store_upload
    from plugin.speech.voiceprint import VoicePrintStore

    settings = app.config["SETTINGS"]
    marker, rep_marker = "zq" + uuid.uuid4().hex[:10], "zr" + uuid.uuid4().hex[:10]
    rep = tenants.identity(tenant_id, rep_crm)
    with db.session_scope() as s:
        user = s.get(User, rep.user_id)
        user.name, user.email = f"Rep {rep_marker}", f"{rep_marker}@example.com"
    fp = Footprint(tenant_id=tenant_id, rep=rep, contact=contact, marker=marker,
                   rep_marker=rep_marker)
    with DEMO_WAV.open("rb") as f:
        stored = store_upload(settings, tenant_id=tenant_id, user_id=rep.user_id,
                              filename=f"call-{marker}.wav", stream=f, record_id=contact,
                              record_type="Contact", title=f"Call {marker}")
    fp.call_id, fp.recording_id = stored.call_id, stored.recording_id
    fp.crm_id = "00T" + uuid.uuid4().hex[:12]
    with db.session_scope() as s:
        rec = s.get(Recording, stored.recording_id)
        rec.status, rec.stage = "done", "done"
        fp.recording_path = Path(rec.path)
        for seq, (speaker, text) in enumerate([("rep", f"Hello {marker}"),
                                               ("customer", f"Too expensive {marker}")], 1):
            s.add(Turn(tenant_id=tenant_id, call_id=fp.call_id, seq=seq, speaker=speaker,
                       text=text, start_ms=seq * 1000, end_ms=seq * 1000 + 900))
        s.add(Nudge(tenant_id=tenant_id, call_id=fp.call_id, turn_seq=2, category="objection",
                    severity="warn", text="Ask what budget means", rule="price", rating=1))
        s.add(Report(tenant_id=tenant_id, call_id=fp.call_id, version=1, data={
            "call": {"title": f"Call {marker}"}, "summary": f"Summary {marker}",
            "scores": {"discovery": 70}}))
        item = OutboxItem(tenant_id=tenant_id, idempotency_key=f"call:{fp.call_id}:v1",
                          call_id=fp.call_id, crm="salesforce", status="done", crm_id=fp.crm_id,
                          payload={"record_id": contact, "body_text": f"Notes {marker}"})
        s.add(item)
        s.flush()
        s.add(OutboxAttempt(tenant_id=tenant_id, outbox_id=item.id, outcome="ok",
                            status_code=201))
    pdf = client.get(f"/api/v1/calls/{fp.call_id}/report.pdf", headers=tenants.headers(rep))
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    fp.pdf_path = next((settings.instance_path / "reports").rglob(f"{fp.call_id}-v1.pdf"))
    FileBus(settings.instance_path / "live_bus").publish(
        fp.call_id, {"type": "final", "text": f"Too expensive {marker}"})
    fp.bus_folder = settings.instance_path / "live_bus" / fp.call_id
    prints = VoicePrintStore(settings.instance_path / "voiceprints")
    prints.save(tenant_id, rep.user_id, np.ones(256, dtype=np.float32))
    fp.voiceprint = prints._path(tenant_id, rep.user_id)
    headers = tenants.headers(rep)
    started = client.post("/api/v1/practice/sessions", json={"scenario_id": "cfo-discovery"},
                          headers=headers)
    assert started.status_code == 201, started.get_json()
    fp.practice_session = started.get_json()["id"]
    reply = client.post(f"/api/v1/practice/sessions/{fp.practice_session}/replies",
                        json={"text": f"Our customers see a payback in six months {rep_marker}"},
                        headers=headers)
    assert reply.status_code == 201, reply.get_json()
    drill = client.post("/api/v1/practice/drills", headers=headers, json={
        "customer_line": "It is too expensive.",
        "text": f"What would it need to cost {rep_marker}?"})
    assert drill.status_code == 201, drill.get_json()
    with db.session_scope() as s:
        row = PracticeSession(tenant_id=tenant_id, user_id=rep.user_id,
                              scenario_id=customer_scenario_id(contact), status="finished",
                              state={"customer": True, "persona": f"Persona {marker}"})
        s.add(row)
        s.flush()
        fp.customer_session = row.id
    for path in (fp.recording_path, fp.pdf_path, fp.voiceprint):
        assert path.is_file(), path
    assert any(fp.bus_folder.iterdir())
    return fp


def table_dump(tenant_id: str | None = None) -> dict[str, list[str]]:
    """Every row of every table (``Base.metadata``, so a new table is included), as JSON
    text, optionally only the rows of one tenant."""
    out: dict[str, list[str]] = {}
    with db.session_scope() as s:
        for table in Base.metadata.sorted_tables:
            q = select(table)
            col = table.c.get("tenant_id") if table.name != "tenants" else table.c.id
            if tenant_id is not None and col is not None:
                q = q.where(col == tenant_id)
            out[table.name] = [json.dumps(dict(r._mapping), default=str)
                               for r in s.execute(q)]
    return out


def files_mentioning(root: Path, *needles: str) -> list[Path]:
    """Files under the instance folder whose name or (small) content holds a needle; the
    broker's folders are left out (task messages carry ids, never content)."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or "broker" in path.relative_to(root).parts:
            continue
        text = path.name
        if path.stat().st_size < 1 << 20:
            text += path.read_bytes().decode("utf-8", "replace")
        if any(n and n in text for n in needles):
            found.append(path)
    return found


def mentions(dump: dict[str, list[str]], *needles: str,
             skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Rows (per table) that contain any of ``needles``."""
    found = {}
    for name, rows in dump.items():
        if name in skip:
            continue
        hits = [r for r in rows if any(n in r for n in needles if n)]
        if hits:
            found[name] = hits
    return found


@pytest.fixture
def footprint(app: Any, client: Any, tenants: Any) -> Any:
    def make(tenant_id: str, rep_crm: str, contact: str) -> Footprint:
        return make_footprint(app, client, tenants, tenant_id, rep_crm, contact)

    return make
