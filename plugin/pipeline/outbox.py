"""Exactly-once CRM write-back through an outbox (Saleor-style webhook delivery).

1. The activity to write is persisted as an ``OutboxItem`` with an idempotency key
   (call id + report version) in the same transaction as the report; only its id is queued.
2. ``deliver`` claims the row atomically (``pending`` → ``sending`` with a lease), records an
   ``OutboxAttempt``, calls the CRM with the idempotency key, then marks it ``done`` with the
   CRM's id. A concurrent or redelivered task finds the row claimed or done and sends nothing.
3. 429/5xx/timeouts (``ProviderUnavailable``) go back to ``pending`` with exponential backoff
   and jitter (honouring ``Retry-After``); other 4xx (``ProviderInputError``) fail at once
   with the CRM's message. Failed rows are listed on /admin/outbox and can be retried.
4. A worker killed mid-send leaves a claim whose lease runs out (or that its restarted node
   releases at start); the sweep re-queues it and the CRM's idempotency key, the last line
   of defence, turns the second send into a no-op.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from plugin.db import db
from plugin.models import OutboxAttempt, OutboxItem
from plugin.providers.crm import CallActivity
from plugin.providers.errors import ProviderError, ProviderInputError, ProviderUnavailable
from plugin.settings import Settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # then the row fails and waits for a person (retry on /admin/outbox)
LEASE_S = 180  # longer than the crm task's hard time limit (150 s)
BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 300.0

Outcome = Literal["done", "already_done", "retry", "failed", "busy", "not_due", "missing"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """What ``deliver`` did; ``countdown`` says when to try again for retry/busy/not_due."""

    outcome: Outcome
    crm_id: str = ""
    error: str = ""
    countdown: float = 0.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; treat them as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def idempotency_key(call_id: str, version: int, kind: str = "call_activity") -> str:
    return f"salescoach:{kind}:{call_id}:v{version}"


def activity_to_payload(activity: CallActivity) -> dict[str, Any]:
    return {
        "record_id": activity.record_id, "record_type": activity.record_type,
        "subject": activity.subject, "body_text": activity.body_text,
        "body_html": activity.body_html, "started_at": activity.started_at.isoformat(),
        "duration_s": activity.duration_s, "direction": activity.direction,
        "disposition": activity.disposition, "report_url": activity.report_url,
        "extra": dict(activity.extra),
    }


def payload_to_activity(payload: dict[str, Any]) -> CallActivity:
    data = dict(payload)
    data["started_at"] = datetime.fromisoformat(data["started_at"])
    data["extra"] = dict(data.get("extra") or {})
    return CallActivity(**data)


def ensure_item(session: Session, *, tenant_id: str, call_id: str, version: int, crm: str,
                activity: CallActivity) -> OutboxItem:
    """The outbox row for this call and report version, created once (unique key)."""
    key = idempotency_key(call_id, version)
    item = session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == key))
    if item is None:
        item = OutboxItem(tenant_id=tenant_id, idempotency_key=key, call_id=call_id,
                          kind="call_activity", crm=crm, payload=activity_to_payload(activity),
                          status="pending", updated_at=utcnow())
        session.add(item)
        session.flush()
    return item


def _version(payload: dict[str, Any]) -> int:
    raw = str((payload.get("extra") or {}).get("report_version") or "0")
    return int(raw) if raw.isdigit() else 0


def written_activity(session: Session, item: OutboxItem) -> tuple[str, int] | None:
    """(CRM id, report version) of the activity an earlier row of the same call already
    wrote to the same CRM and record, newest version first; None when there is none.

    A call has one activity in the CRM: a later report version (or notes rewritten by an
    admin) updates it in place rather than adding a second one."""
    rows = session.scalars(select(OutboxItem).where(
        OutboxItem.call_id == item.call_id, OutboxItem.kind == item.kind,
        OutboxItem.crm == item.crm, OutboxItem.status == "done", OutboxItem.id != item.id,
        OutboxItem.crm_id != "")).all()
    record = (item.payload or {}).get("record_id")
    same = [r for r in rows if (r.payload or {}).get("record_id") == record]
    if not same:
        return None
    newest = max(same, key=lambda r: (_version(dict(r.payload or {})), r.id))
    return newest.crm_id, _version(dict(newest.payload or {}))


def backoff_s(attempt: int, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff; at least the CRM's Retry-After when it sent one."""
    cap = min(BACKOFF_MAX_S, BACKOFF_BASE_S * (2 ** max(0, attempt - 1)))
    delay = random.uniform(cap / 2, cap)
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return round(delay, 2)


def _claim(item_id: int, worker: str, lease_s: float) -> tuple[int | None, Delivery | None]:
    """Atomically take the row for sending. Returns (attempt id, None) or (None, why not)."""
    now = utcnow()
    with db.session_scope() as s:
        result = s.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item_id,
                   or_(and_(OutboxItem.status == "pending",
                            or_(OutboxItem.next_attempt_at.is_(None),
                                OutboxItem.next_attempt_at <= now)),
                       and_(OutboxItem.status == "sending", OutboxItem.lease_until < now)))
            .values(status="sending", claimed_by=worker,
                    lease_until=now + timedelta(seconds=lease_s),
                    attempts=OutboxItem.attempts + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            item = s.get(OutboxItem, item_id)
            assert item is not None
            attempt = OutboxAttempt(tenant_id=item.tenant_id, outbox_id=item_id, outcome="sending")
            s.add(attempt)
            s.flush()
            return attempt.id, None
        item = s.get(OutboxItem, item_id)
        if item is None:
            return None, Delivery("missing", error=f"outbox item {item_id} does not exist")
        if item.status == "done":
            return None, Delivery("already_done", crm_id=item.crm_id)
        if item.status == "failed":
            return None, Delivery("failed", error=item.last_error)
        if item.status == "sending":
            lease = _aware(item.lease_until) or now
            return None, Delivery("busy", countdown=max(1.0, (lease - now).total_seconds() + 1))
        due = _aware(item.next_attempt_at) or now
        return None, Delivery("not_due", countdown=max(0.5, (due - now).total_seconds()))


def _finish(item_id: int, attempt_id: int, *, outcome: str, item_status: str, crm_id: str = "",
            error: str = "", status_code: int | None = None,
            next_attempt_at: datetime | None = None) -> None:
    now = utcnow()
    with db.session_scope() as s:
        item = s.get(OutboxItem, item_id)
        attempt = s.get(OutboxAttempt, attempt_id)
        if attempt is not None:
            attempt.outcome, attempt.error = outcome, error[:4000]
            attempt.status_code, attempt.finished_at = status_code, now
        if item is None or item.status == "done":
            return  # another claimant (after a lease ran out) already finished it
        item.status, item.updated_at = item_status, now
        item.claimed_by, item.lease_until = "", None
        item.next_attempt_at = next_attempt_at
        if crm_id:
            item.crm_id = crm_id
        if error or outcome == "ok":
            item.last_error = error[:4000]


def deliver(item_id: int, settings: Settings, *, worker: str = "",
            lease_s: float = LEASE_S, max_attempts: int = MAX_ATTEMPTS) -> Delivery:
    """Send one outbox row to the CRM at most once; see the module docstring."""
    attempt_id, early = _claim(item_id, worker or "local", lease_s)
    if early is not None:
        return early
    assert attempt_id is not None
    with db.session_scope() as s:
        item = s.get(OutboxItem, item_id)
        assert item is not None
        tenant_id, key, attempts, crm = (item.tenant_id, item.idempotency_key, item.attempts,
                                         item.crm)
        payload = dict(item.payload)
        earlier = written_activity(s, item)
    if earlier is not None and earlier[1] > _version(payload):
        # A newer report's notes are already in the CRM: these older ones must not replace
        # them. Nothing is sent; the row points at the call's one activity.
        _finish(item_id, attempt_id, outcome="ok", item_status="done", crm_id=earlier[0])
        return Delivery("done", crm_id=earlier[0])
    try:
        from plugin.crm import adapter_for

        with db.session_scope() as s:
            adapter = adapter_for(s, tenant_id, settings,
                                  kind=crm if crm in ("salesforce", "hubspot") else None,
                                  record_id=str(payload.get("record_id", "")))
        if adapter is None:
            raise ProviderInputError("the CRM is not connected for this org; "
                                     "connect it on the admin page")
        activity = payload_to_activity(payload)
        if earlier is not None:  # the call's activity exists: its notes are updated in place
            crm_id = adapter.update_call_activity(earlier[0], activity, key)
        else:
            crm_id = adapter.write_call_activity(activity, key)
    except ProviderUnavailable as exc:
        return _retry_or_fail(item_id, attempt_id, attempts, max_attempts, exc.message, exc.status,
                              exc.retry_after)
    except ProviderError as exc:  # ProviderInputError and any other non-retryable answer
        _finish(item_id, attempt_id, outcome="failed", item_status="failed",
                error=exc.message, status_code=exc.status)
        return Delivery("failed", error=exc.message)
    except Exception as exc:  # noqa: BLE001 - unexpected (network library, bug): bounded retries
        log.exception("outbox %s: unexpected error while writing to the CRM", item_id)
        return _retry_or_fail(item_id, attempt_id, attempts, max_attempts,
                              f"{type(exc).__name__}: {exc}", None, None)
    _finish(item_id, attempt_id, outcome="ok", item_status="done", crm_id=str(crm_id))
    return Delivery("done", crm_id=str(crm_id))


def _retry_or_fail(item_id: int, attempt_id: int, attempts: int, max_attempts: int, message: str,
                   status: int | None, retry_after: float | None) -> Delivery:
    if attempts >= max_attempts:
        error = f"gave up after {attempts} attempts: {message}"
        _finish(item_id, attempt_id, outcome="failed", item_status="failed", error=error,
                status_code=status)
        return Delivery("failed", error=error)
    delay = backoff_s(attempts, retry_after)
    _finish(item_id, attempt_id, outcome="retry", item_status="pending", error=message,
            status_code=status, next_attempt_at=utcnow() + timedelta(seconds=delay))
    return Delivery("retry", error=message, countdown=delay)


def reset_for_retry(session: Session, item: OutboxItem) -> None:
    """A failed row back to pending (admin retry); its attempts count starts again."""
    item.status, item.attempts, item.next_attempt_at = "pending", 0, None
    item.claimed_by, item.lease_until, item.updated_at = "", None, utcnow()


def release_claims_of_node(node: str, live_worker: str) -> int:
    """At worker start: claims held by an earlier process of this node are dead; free them."""
    with db.session_scope() as s:
        result = s.execute(
            update(OutboxItem)
            .where(OutboxItem.status == "sending", OutboxItem.claimed_by.like(f"{node}:%"),
                   OutboxItem.claimed_by != live_worker)
            .values(status="pending", claimed_by="", lease_until=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def due_items(quiet_s: float = 20.0, limit: int = 500) -> list[int]:
    """Rows whose message may be lost: pending and due, untouched for ``quiet_s``, or claimed
    past their lease."""
    now = utcnow()
    with db.session_scope() as s:
        rows = s.scalars(
            select(OutboxItem.id).where(or_(
                and_(OutboxItem.status == "pending",
                     OutboxItem.updated_at < now - timedelta(seconds=quiet_s),
                     or_(OutboxItem.next_attempt_at.is_(None), OutboxItem.next_attempt_at <= now)),
                and_(OutboxItem.status == "sending", OutboxItem.lease_until < now),
            )).order_by(OutboxItem.id).limit(limit)
        )
        return list(rows)
