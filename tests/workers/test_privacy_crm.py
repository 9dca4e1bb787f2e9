"""Erasure that reaches the CRM: the call activity the pipeline wrote to the sandbox's
Salesforce or HubSpot API is deleted through the adapter's delete call when the admin asks
for it, and only listed otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.db import db
from plugin.models import Call, OutboxItem, Turn
from plugin.pipeline import outbox, stages
from plugin.privacy.erase import erase
from plugin.privacy.selection import subject

LINES = [("rep", "Thanks for your time today. What is the biggest problem in your pipeline?"),
         ("customer", "Deals stall after the demo and it is too expensive to hire more reps."),
         ("rep", "I will send a summary on Friday; can we meet next Wednesday?")]
TENANTS = {"salesforce": "sf:00DPRIVCRM01", "hubspot": "hs:7070"}


def written_call(app: Any, crm: Any, kind: str) -> tuple[str, str, str]:
    """A call whose report the pipeline wrote to the CRM: (call id, record id, CRM id)."""
    tenant = TENANTS[kind]
    crm.connect(tenant, kind)
    record_id, record_type = crm.person(kind)
    with db.session_scope() as s:
        call = Call(tenant_id=tenant, record_id=record_id, record_type=record_type,
                    source="panel", status="ended", title="Privacy CRM test")
        s.add(call)
        s.flush()
        for seq, (speaker, text) in enumerate(LINES):
            s.add(Turn(tenant_id=tenant, call_id=call.id, seq=seq, speaker=speaker, text=text,
                       start_ms=seq * 5000, end_ms=seq * 5000 + 4000))
        call_id = call.id
    settings = app.config["SETTINGS"]
    with app.app_context():
        version = stages.analyse(call_id, settings)
        item_id = stages.queue_writeback(call_id, version or 1, settings)
        assert item_id is not None
        assert outbox.deliver(item_id, settings).outcome == "done"
    with db.session_scope() as s:
        row = s.get(OutboxItem, item_id)
        assert row is not None and row.crm_id
        return call_id, record_id, row.crm_id


@pytest.mark.parametrize("kind", ["salesforce", "hubspot"])
def test_erasure_deletes_the_crm_activity_when_asked(worker_app: Any, crm: Any,
                                                    kind: str) -> None:
    call_id, record_id, crm_id = written_call(worker_app, crm, kind)
    assert crm.activities(call_id), "the pipeline wrote the activity"
    settings = worker_app.config["SETTINGS"]
    with worker_app.app_context():
        receipt = erase(subject(TENANTS[kind], "contact", record_id), settings.instance_path,
                        "cli:test", settings=settings, delete_in_crm=True)
    [activity] = receipt["crm_activities"]
    assert activity["crm_id"] == crm_id and activity["deleted_in_crm"] is True
    assert activity["left_in_crm"] is False
    assert crm.activities(call_id) == []


def test_without_the_option_the_activity_is_only_listed(worker_app: Any, crm: Any) -> None:
    call_id, record_id, crm_id = written_call(worker_app, crm, "salesforce")
    settings = worker_app.config["SETTINGS"]
    receipt = erase(subject(TENANTS["salesforce"], "contact", record_id),
                    settings.instance_path, "cli:test")
    [activity] = receipt["crm_activities"]
    assert activity["crm_id"] == crm_id and activity["left_in_crm"] is True
    assert len(crm.activities(call_id)) == 1  # still in the CRM, listed for the admin
