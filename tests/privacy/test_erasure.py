"""Erasure is complete: after deleting a contact, a rep or a tenant nothing about them is left
in any table (enumerated from ``Base.metadata``) or on disk, and nobody else's data moved."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from plugin.db import db
from plugin.models import AuditEvent, Base, Call, CrmConnection, PrivacyReceipt, Recording, User
from plugin.privacy.erase import LiveCallsOpen, PipelineBusy, erase, pseudonym
from plugin.privacy.selection import TABLES, SelectionError, UnknownSubject, collect, subject

from .conftest import admin_of, files_mentioning, mentions, table_dump

PROOF = ("privacy_receipts", "audit_events")  # hold ids of what was erased, never content


def test_every_table_is_classified_for_privacy() -> None:
    # A new table must say how it relates to people, or erasure refuses to run.
    assert set(Base.metadata.tables) == set(TABLES)


def test_an_unclassified_table_stops_the_erasure(app: Any, monkeypatch: Any) -> None:
    monkeypatch.delitem(TABLES, "turns")
    with db.session_scope() as s, pytest.raises(SelectionError, match="turns"):
        collect(s, subject("sf:00DNEW", "contact", "003X"), app.config["SETTINGS"].instance_path)


def test_deleting_a_contact_leaves_nothing_of_them(app: Any, footprint: Any) -> None:
    # given the contact's call (recording, transcript, report + PDF, outbox, live bus,
    # practice rehearsing them), another contact's call by the same rep, and the same contact
    # id in another tenant
    tenant = "sf:00DERASE1"
    admin = admin_of(tenant)
    mine = footprint(tenant, "005REP1", "003CONTACT")
    other_contact = footprint(tenant, "005REP1", "003OTHER")
    other_tenant = footprint("sf:00DERASE2", "005REP1", "003CONTACT")
    # when an admin deletes the contact
    receipt = erase(subject(tenant, "contact", "003CONTACT"),
                    app.config["SETTINGS"].instance_path, admin)
    # then no table mentions its call, recording, transcript words or record id
    dump = table_dump()
    needles = (mine.call_id, mine.recording_id, mine.marker, mine.customer_session)
    assert mentions(dump, *needles, skip=PROOF) == {}
    assert mentions(table_dump(tenant), "003CONTACT", skip=PROOF) == {}
    assert mentions({k: dump[k] for k in PROOF}, mine.marker) == {}  # ids only in the proof
    assert "practice_replies" in mentions(dump, mine.rep_marker)  # the rep's own data stays
    # and its files are gone: nothing under the instance folder names or holds them
    assert not mine.recording_path.exists() and not mine.pdf_path.exists()
    assert not mine.bus_folder.exists()
    root = app.config["SETTINGS"].instance_path
    assert files_mentioning(root, mine.call_id, mine.recording_id, mine.marker) == []
    # while the rep, their voice print and practice, the other contact and tenant remain
    assert mine.voiceprint.is_file()
    for fp in (other_contact, other_tenant):
        assert fp.recording_path.is_file() and fp.pdf_path.is_file()
        assert mentions(table_dump(fp.tenant_id), fp.marker).keys() >= {"calls", "turns",
                                                                          "reports", "outbox"}
    with db.session_scope() as s:
        assert s.get(User, mine.rep.user_id) is not None
    # and the receipt says what went, with the CRM activity left for the admin
    assert receipt["counts"] == {"calls": 1, "turns": 2, "nudges": 1, "reports": 1,
                                 "recordings": 1, "outbox": 1, "outbox_attempts": 1,
                                 "practice_sessions": 1}
    assert receipt["ids"]["calls"] == [mine.call_id]
    assert [a["crm_id"] for a in receipt["crm_activities"]] == [mine.crm_id]
    assert receipt["crm_activities"][0]["left_in_crm"] is True
    assert receipt["files_removed"] == 3 and receipt["actor"] == "005ADMIN"
    assert len(receipt["files"]) == 3  # recording, PDF, the live-bus event
    with db.session_scope() as s:
        stored = s.get(PrivacyReceipt, receipt["id"])
        assert stored is not None and stored.subject_id == "003CONTACT"
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "privacy.delete",
                                                  AuditEvent.tenant_id == tenant))
        assert event is not None and event.details["receipt_id"] == receipt["id"]
    # a second erasure finds nothing left
    again = erase(subject(tenant, "contact", "003CONTACT"),
                  app.config["SETTINGS"].instance_path, admin)
    assert again["counts"] == {} and again["files"] == []


def test_deleting_a_rep_leaves_nothing_of_them(app: Any, footprint: Any, tenants: Any) -> None:
    # given a rep with calls and practice, who also connected the CRM and assigned practice,
    # and a colleague with a call to the same contact
    tenant = "sf:00DERASE3"
    admin = admin_of(tenant)
    mine = footprint(tenant, "005GONE", "003SHARED")
    colleague = footprint(tenant, "005STAY", "003SHARED")
    with db.session_scope() as s:
        s.add(CrmConnection(tenant_id=tenant, kind="salesforce", connected_by=mine.rep.user_id))
        rep = s.get(User, mine.rep.user_id)
        rep_name = rep.name
        s.add(AuditEvent(tenant_id=tenant, actor="005GONE", actor_name=rep_name,
                         action="settings.change", target="tenant"))
        s.add(AuditEvent(tenant_id=tenant, actor="system", action="role.grant",
                         target="user:005GONE"))
    # when the rep is deleted
    receipt = erase(subject(tenant, "rep", "005GONE"), app.config["SETTINGS"].instance_path,
                    admin)
    # then nothing names them or holds their calls, practice, voice print or files
    dump = table_dump()
    assert mentions(dump, mine.call_id, mine.recording_id, mine.marker, mine.rep_marker,
                    mine.practice_session, mine.customer_session, skip=PROOF) == {}
    assert mentions({k: dump[k] for k in PROOF}, mine.marker, mine.rep_marker, rep_name) == {}
    for path in (mine.recording_path, mine.pdf_path, mine.voiceprint):
        assert not path.exists(), path
    assert files_mentioning(app.config["SETTINGS"].instance_path, mine.call_id,
                            mine.recording_id, mine.marker, mine.rep_marker) == []
    with db.session_scope() as s:
        assert s.get(User, mine.rep.user_id) is None
        conn = s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant))
        assert conn is not None and conn.connected_by is None  # the org keeps its connection
        actors = set(s.scalars(select(AuditEvent.actor).where(AuditEvent.tenant_id == tenant)))
        assert "005GONE" not in actors and pseudonym("005GONE") in actors
        targets = set(s.scalars(select(AuditEvent.target).where(AuditEvent.tenant_id == tenant)))
        assert f"user:{pseudonym('005GONE')}" in targets and "user:005GONE" not in targets
    assert receipt["counts"]["users"] == 1 and receipt["counts"]["practice_replies"] == 1
    assert receipt["counts"]["practice_drills"] == 1
    # and the colleague's call with the same contact is untouched
    assert colleague.recording_path.is_file() and colleague.voiceprint.is_file()
    assert "turns" in mentions(table_dump(tenant), colleague.marker)


def test_deleting_a_tenant_leaves_only_its_receipt(app: Any, footprint: Any) -> None:
    tenant = "hs:4242"
    admin = admin_of(tenant)
    fp = footprint(tenant, "u-1", "c-1")
    other = footprint("hs:4343", "u-1", "c-1")
    root = app.config["SETTINGS"].instance_path
    receipt = erase(subject(tenant, "tenant"), root, admin)
    dump = table_dump(tenant)
    # task_locks holds no tenant column and no personal data (hashed one-time markers of
    # other tests' stream tokens and links may be there): infrastructure, not the tenant's
    from plugin.privacy.selection import TABLES

    assert {k: v for k, v in dump.items()
            if v and k != "privacy_receipts" and TABLES.get(k) != "infrastructure"} == {}
    assert [r for r in dump["privacy_receipts"] if receipt["id"] in r]
    for name in ("recordings", "reports", "voiceprints"):
        assert not (root / name / "hs_4242").exists()
    assert not fp.bus_folder.exists()
    assert receipt["counts"]["tenants"] == 1 and receipt["counts"]["users"] == 2
    assert other.recording_path.is_file() and mentions(table_dump("hs:4343"), other.marker)


def test_live_calls_and_pipeline_work_block_the_erasure(app: Any, tenants: Any) -> None:
    tenant = "sf:00DERASE4"
    rep = tenants.identity(tenant, "005LIVE")
    with db.session_scope() as s:
        s.add(Call(tenant_id=tenant, user_id=rep.user_id, status="live", record_id="003L"))
    root = app.config["SETTINGS"].instance_path
    with pytest.raises(LiveCallsOpen):
        erase(subject(tenant, "contact", "003L"), root, "cli:test")
    with pytest.raises(UnknownSubject):
        erase(subject(tenant, "rep", "005NOBODY"), root, "cli:test")
    # a recording still being transcribed blocks it too (the worker would write rows back)
    with db.session_scope() as s:
        call = Call(tenant_id=tenant, user_id=rep.user_id, status="ended", record_id="003Q")
        s.add(call)
        s.flush()
        s.add(Recording(tenant_id=tenant, call_id=call.id, filename="q.wav", path="",
                        status="running"))
    with pytest.raises(PipelineBusy, match="1 recordings"):
        erase(subject(tenant, "contact", "003Q"), root, "cli:test")
    with db.session_scope() as s:  # nothing was touched
        assert s.scalar(select(Call).where(Call.record_id == "003L")) is not None


def test_a_salesforce_id_is_found_in_its_15_and_18_character_forms(app: Any,
                                                                   tenants: Any) -> None:
    from plugin.crm_auth import salesforce_id18

    tenant = "sf:00DERASE5"
    rep = tenants.identity(tenant, "005ID")
    long_id = salesforce_id18("003XY00000AbCdE")
    with db.session_scope() as s:
        s.add(Call(tenant_id=tenant, user_id=rep.user_id, status="analysed", record_id=long_id))
    receipt = erase(subject(tenant, "contact", "003XY00000AbCdE"),
                    app.config["SETTINGS"].instance_path, "cli:test")
    assert receipt["counts"] == {"calls": 1}
    with db.session_scope() as s:
        assert s.scalar(select(Call).where(Call.tenant_id == tenant)) is None
