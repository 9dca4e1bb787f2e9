"""Exactly-once CRM write-back: the outbox retries 429/5xx with backoff, fails at once on
other 4xx with the CRM's message, and never writes twice (redelivery, concurrent tasks, a
worker that died mid-send). Runs against the CRM sandbox over TLS with a real worker."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from plugin.db import db
from plugin.models import Call, OutboxAttempt, OutboxItem, Turn
from plugin.pipeline import outbox, stages
from plugin.pipeline.dispatch import DELIVER, enqueue

pytestmark = pytest.mark.slow

TENANT = "sf:00DWORKERS0001"
LINES = [("rep", "Thanks for your time today. What is the biggest problem in your pipeline?"),
         ("customer", "Deals stall after the demo and it is too expensive to hire more reps."),
         ("rep", "I understand. I will send a summary on Friday; can we meet next week?"),
         ("customer", "Yes, next Wednesday works for me.")]


@pytest.fixture(scope="module")
def connected(crm: Any) -> Any:
    crm.connect(TENANT, "salesforce")
    return crm


def analysed_call(app: Any, record_id: str, record_type: str = "Contact") -> tuple[str, int]:
    """A finished call with a stored report and its outbox row: (call id, outbox id)."""
    with db.session_scope() as s:
        call = Call(tenant_id=TENANT, record_id=record_id, record_type=record_type,
                    source="panel", status="ended", title="Pipeline review")
        s.add(call)
        s.flush()
        for seq, (speaker, text) in enumerate(LINES):
            s.add(Turn(tenant_id=TENANT, call_id=call.id, seq=seq, speaker=speaker, text=text,
                       start_ms=seq * 5000, end_ms=seq * 5000 + 4000))
        call_id = call.id
    settings = app.config["SETTINGS"]
    with app.app_context():
        version = stages.analyse(call_id, settings)
        assert version == 1
        item_id = stages.queue_writeback(call_id, version, settings)
    assert item_id is not None
    return call_id, item_id


def send(app: Any, item_id: int) -> None:
    """Queue the delivery as the pipeline does (inside the app, on its Celery app)."""
    with app.app_context():
        enqueue(DELIVER, item_id)


def item(item_id: int) -> OutboxItem:
    with db.session_scope() as s:
        row = s.get(OutboxItem, item_id)
        assert row is not None
        return row


def attempts(item_id: int) -> list[OutboxAttempt]:
    with db.session_scope() as s:
        return list(s.scalars(select(OutboxAttempt).where(OutboxAttempt.outbox_id == item_id)
                              .order_by(OutboxAttempt.id)))


@pytest.fixture(autouse=True)
def _no_faults(connected: Any) -> Any:
    connected.clear_faults()
    yield
    connected.clear_faults()


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limit_and_server_errors_are_retried_until_written_once(
        worker_app: Any, celery_worker: Any, connected: Any, wait_for: Any, status: int) -> None:
    # given a report to write and a CRM that refuses more times than the adapter retries itself
    record_id, _ = connected.person()
    call_id, item_id = analysed_call(worker_app, record_id)
    connected.fault(path="/services/data", method="POST", status=status, retry_after=0, count=5)
    connected.fault(path="/services/data", method="PATCH", status=status, retry_after=0, count=5)
    # when the worker delivers it
    send(worker_app, item_id)
    # then it retries with backoff and writes exactly one activity
    done = wait_for(lambda: item(item_id).status == "done" and item(item_id), timeout=120,
                    what="the outbox row to be written")
    tries = attempts(item_id)
    assert [a.outcome for a in tries][-1] == "ok" and any(a.outcome == "retry" for a in tries)
    assert any(a.status_code == status for a in tries if a.outcome == "retry")
    acts = connected.activities(call_id)
    assert len(acts) == 1 and acts[0]["id"] == done.crm_id


def test_bad_request_fails_at_once_with_the_crm_message(
        worker_app: Any, celery_worker: Any, connected: Any, wait_for: Any) -> None:
    record_id, _ = connected.person()
    call_id, item_id = analysed_call(worker_app, record_id)
    connected.fault(path="/services/data", status=400, count=0, message="FIELD_CUSTOM_VALIDATION")
    send(worker_app, item_id)
    failed = wait_for(lambda: item(item_id).status == "failed" and item(item_id), timeout=60,
                      what="the outbox row to fail")
    assert failed.attempts == 1 and len(attempts(item_id)) == 1
    assert "FIELD_CUSTOM_VALIDATION" in failed.last_error
    assert connected.activities(call_id) == []


def test_unknown_record_fails_without_a_half_written_activity(
        worker_app: Any, celery_worker: Any, connected: Any, wait_for: Any) -> None:
    call_id, item_id = analysed_call(worker_app, "003000000000404AAA")
    send(worker_app, item_id)
    failed = wait_for(lambda: item(item_id).status == "failed" and item(item_id), timeout=60,
                      what="the outbox row to fail")
    assert failed.last_error and connected.activities(call_id) == []


def test_redelivered_and_concurrent_tasks_write_one_activity(
        worker_app: Any, connected: Any) -> None:
    # given one outbox row and a slow CRM
    record_id, _ = connected.person()
    call_id, item_id = analysed_call(worker_app, record_id)
    connected.fault(path="/services/data", status=0, delay_ms=400, count=0)
    settings = worker_app.config["SETTINGS"]
    results: list[outbox.Delivery] = []

    def run(n: int) -> None:
        with worker_app.app_context():
            results.append(outbox.deliver(item_id, settings, worker=f"test@host:{n}"))

    # when four deliveries of the same message race, and one more comes after
    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run(9)
    # then exactly one sent; the rest saw it claimed or done
    outcomes = [r.outcome for r in results]
    assert outcomes.count("done") == 1, outcomes
    assert set(outcomes) <= {"done", "busy", "already_done"}
    assert results[-1].outcome == "already_done"
    assert len(connected.activities(call_id)) == 1 and item(item_id).attempts == 1


def test_claim_of_a_dead_worker_is_taken_over_without_a_duplicate(
        worker_app: Any, celery_worker: Any, connected: Any, wait_for: Any) -> None:
    # given a worker that wrote the activity and died before marking the row done
    record_id, record_type = connected.person()
    call_id, item_id = analysed_call(worker_app, record_id)
    settings = worker_app.config["SETTINGS"]
    from plugin.crm import adapter_for

    row = item(item_id)
    with db.session_scope() as s:
        adapter = adapter_for(s, TENANT, settings, kind="salesforce")
    assert adapter is not None
    first_id = adapter.write_call_activity(outbox.payload_to_activity(row.payload),
                                           row.idempotency_key)
    with db.session_scope() as s:
        dead = s.get(OutboxItem, item_id)
        assert dead is not None
        dead.status, dead.claimed_by, dead.attempts = "sending", "gone@host:1", 1
        dead.lease_until = datetime.now(UTC) - timedelta(seconds=1)
    # when the sweep finds the expired claim
    with worker_app.app_context():
        from plugin.pipeline.sweep import sweep

        assert sweep()["outbox"] >= 1
    # then another worker finishes it with the same CRM record, not a second one
    done = wait_for(lambda: item(item_id).status == "done" and item(item_id), timeout=60,
                    what="the expired claim to be finished")
    assert done.crm_id == first_id and len(connected.activities(call_id)) == 1


def test_admin_sees_failed_write_backs_and_retries_them(
        worker_app: Any, celery_worker: Any, connected: Any, wait_for: Any) -> None:
    record_id, _ = connected.person()
    call_id, item_id = analysed_call(worker_app, record_id)
    connected.fault(path="/services/data", status=400, count=0, message="TEMPORARY_RULE")
    send(worker_app, item_id)
    wait_for(lambda: item(item_id).status == "failed", timeout=60, what="the row to fail")
    connected.clear_faults()
    client = worker_app.test_client()
    signer = worker_app.extensions["salescoach.signer"]
    from plugin.models import User
    from plugin.security import Identity

    with db.session_scope() as s:
        users = {u.crm_user_id: u for u in s.scalars(select(User).where(User.tenant_id == TENANT))}
    admin = Identity(TENANT, users["admin-1"].id, "admin-1", role="admin")
    rep = Identity(TENANT, users["rep-1"].id, "rep-1", role="rep")
    admin_h = {"Authorization": "Bearer " + signer.issue(admin)}
    rep_h = {"Authorization": "Bearer " + signer.issue(rep)}
    # a rep may not see the outbox; the admin sees the failed row with the CRM's message
    assert client.get("/api/v1/admin/outbox", headers=rep_h).status_code == 403
    rows = client.get("/api/v1/admin/outbox?status=failed", headers=admin_h).json["items"]
    assert any(r["id"] == item_id and "TEMPORARY_RULE" in r["last_error"] for r in rows)
    page = client.get(f"/admin/outbox?t={signer.issue(admin)}").get_data(as_text=True)
    assert f'data-id="{item_id}"' in page and "Retry" in page
    # retry sends it again and it is written once
    resp = client.post(f"/api/v1/admin/outbox/{item_id}/retry", headers=admin_h)
    assert resp.status_code == 202
    wait_for(lambda: item(item_id).status == "done", timeout=60, what="the retried row")
    assert len(connected.activities(call_id)) == 1
    again = client.post(f"/api/v1/admin/outbox/{item_id}/retry", headers=admin_h)
    assert again.status_code == 409 and again.json["error"]["code"] == "not_failed"
