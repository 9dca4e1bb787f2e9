"""``task_lock`` (after Superset's) and heartbeat leases over the ``task_locks`` table.

A lock is a row with an owner (``<node>:<pid>:<task id>``) and an expiry; at most one run of
a unit of work holds it. ``lease`` is a lock with a short TTL that a background thread renews
while the work runs, so a killed worker's lease lapses within ``LEASE_TTL_S`` and
``reclaim_lapsed`` (beat sweep, worker start-up) re-queues the work in well under a minute.

A lapsed lease is not deleted but turned into a *placeholder* (``reclaimed:<n>`` or
``retry:<task id>``): anyone may take a placeholder at once, yet while it has not expired the
sweep does not queue the work again, and ``n`` counts how often the work killed its worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from plugin.db import db
from plugin.models import TaskLock

log = logging.getLogger(__name__)

LEASE_TTL_S = 30.0  # a holder that stops renewing for this long is presumed dead
RECLAIM_GRACE_S = 60.0  # a re-queued unit is queued again if nobody took it by then
PLACEHOLDERS = ("reclaimed:", "retry:")
# Units of work a lapsed lease is re-queued for (other rows of the table, e.g. redeemed
# pop-out links, are plain expiring markers).
RECLAIMABLE = ("transcribe:", "analyse:")


def _is_placeholder(owner: str) -> bool:
    return owner.startswith(PLACEHOLDERS)


def take(key: str, owner: str, ttl_s: float) -> str | None:
    """Take the lock for ``key`` if it is free, expired, a placeholder or already ours;
    returns the owner string written (``owner``, plus ``|lapses=<n>`` when it takes over a
    unit whose earlier holders died ``n`` times, so the count survives), or None when someone
    else holds it."""
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl_s)
    try:
        with db.session_scope() as s:
            s.add(TaskLock(key=key, owner=owner, expires_at=expires))
        return owner
    except IntegrityError:
        pass
    with db.session_scope() as s:
        row = s.execute(select(TaskLock.owner, TaskLock.expires_at)
                        .where(TaskLock.key == key)).first()
        if row is None:
            return None  # released in between: let the caller retry later
        current, until = row
        if until.tzinfo is None:  # SQLite returns naive datetimes
            until = until.replace(tzinfo=UTC)
        mine = current == owner or current.startswith(owner + "|")
        if not (mine or until < now or _is_placeholder(current)):
            return None
        lapses = _reclaims(current) if not mine else 0
        effective = current if mine else (f"{owner}|lapses={lapses}" if lapses else owner)
        taken = s.execute(update(TaskLock)
                          .where(TaskLock.key == key, TaskLock.owner == current)
                          .values(owner=effective, expires_at=expires)
                          .execution_options(synchronize_session=False))
        return effective if taken.rowcount else None  # type: ignore[attr-defined]


def acquire(key: str, owner: str, ttl_s: float) -> bool:
    """Take the lock for ``key`` (see ``take``); False when someone else holds it."""
    return take(key, owner, ttl_s) is not None


def renew(key: str, owner: str, ttl_s: float) -> bool:
    """Push the expiry of a lock we hold; False when it is no longer ours."""
    expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
    with db.session_scope() as s:
        done = s.execute(update(TaskLock).where(TaskLock.key == key, TaskLock.owner == owner)
                         .values(expires_at=expires)
                         .execution_options(synchronize_session=False))
        return bool(done.rowcount)  # type: ignore[attr-defined]


def release(key: str, owner: str) -> None:
    with db.session_scope() as s:
        s.execute(delete(TaskLock).where(TaskLock.key == key, TaskLock.owner == owner))


def hand_over(key: str, owner: str, placeholder: str, hold_s: float) -> None:
    """Turn our lock into a placeholder held ``hold_s`` (e.g. while a retry waits its
    countdown), so the sweep re-queues the work only if the retry never comes."""
    expires = datetime.now(UTC) + timedelta(seconds=hold_s)
    with db.session_scope() as s:
        s.execute(update(TaskLock).where(TaskLock.key == key, TaskLock.owner == owner)
                  .values(owner=placeholder, expires_at=expires)
                  .execution_options(synchronize_session=False))


def release_node(node: str, live_pid: int) -> int:
    """Expire at once the locks an earlier process of ``node`` held (it is gone if the node
    restarted), so the start-up sweep re-queues their work. Owners are
    ``<node>:<pid>:<task id>``."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    with db.session_scope() as s:
        result = s.execute(update(TaskLock)
                           .where(TaskLock.owner.like(f"{node}:%"),
                                  ~TaskLock.owner.like(f"{node}:{live_pid}:%"),
                                  TaskLock.expires_at >= past)
                           .values(expires_at=past)
                           .execution_options(synchronize_session=False))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Lapsed:
    """A unit of work whose holder died (or whose re-queued message nobody took)."""

    key: str
    kind: str  # "transcribe" | "analyse"
    target: str  # recording id | call id
    reclaims: int  # how many times a holder of it died (stopped renewing), this lapse included


def _reclaims(owner: str) -> int:
    """Lapses so far of the unit whose row has ``owner``, counting a lapse of that owner: a
    live holder that stopped renewing adds one (its worker died) to the count it carries;
    a placeholder nobody took adds none."""
    if owner.startswith("reclaimed:"):
        tail = owner.split(":", 1)[1]
        return int(tail) if tail.isdecimal() else 0
    if owner.startswith("retry:"):
        return 0
    carried = owner.rsplit("|lapses=", 1)[1] if "|lapses=" in owner else "0"
    return (int(carried) if carried.isdecimal() else 0) + 1


def reclaim_lapsed(now: datetime | None = None) -> list[Lapsed]:
    """Claim every lapsed lease of a reclaimable unit for re-queuing (compare-and-set on the
    owner, so two sweeps never queue the same lapse twice); the caller queues them."""
    now = now or datetime.now(UTC)
    with db.session_scope() as s:
        rows = s.execute(select(TaskLock.key, TaskLock.owner).where(
            TaskLock.expires_at < now,
            or_(*(TaskLock.key.like(f"{p}%") for p in RECLAIMABLE)))).all()
    out: list[Lapsed] = []
    for key, owner in rows:
        n = _reclaims(owner)
        with db.session_scope() as s:
            won = s.execute(update(TaskLock)
                            .where(TaskLock.key == key, TaskLock.owner == owner,
                                   TaskLock.expires_at < now)
                            .values(owner=f"reclaimed:{n}",
                                    expires_at=now + timedelta(seconds=RECLAIM_GRACE_S))
                            .execution_options(synchronize_session=False))
            if not won.rowcount:  # type: ignore[attr-defined]
                continue
        kind, target = key.split(":", 1)
        out.append(Lapsed(key=key, kind=kind, target=target, reclaims=n))
    return out


def expect(key: str, hold_s: float) -> bool:
    """Leave a ``reclaimed:0`` placeholder for work just queued, so that if its message is
    lost the sweep queues it again after ``hold_s``. A row already there (a holder, or a
    placeholder with its count) is left as it is: False."""
    try:
        with db.session_scope() as s:
            s.add(TaskLock(key=key, owner="reclaimed:0",
                           expires_at=datetime.now(UTC) + timedelta(seconds=hold_s)))
        return True
    except IntegrityError:
        return False


def drop(key: str) -> None:
    """Forget a unit's row whatever its owner (the unit was given up as failed)."""
    with db.session_scope() as s:
        s.execute(delete(TaskLock).where(TaskLock.key == key))


@contextmanager
def task_lock(key: str, owner: str, ttl_s: float) -> Iterator[bool]:
    """``with task_lock(k, me, 600) as mine: if mine: work()`` — released on exit."""
    written = take(key, owner, ttl_s)
    try:
        yield written is not None
    finally:
        if written is not None:
            release(key, written)


class Lease:
    """A held lock plus the thread that renews it every ``ttl_s / 3`` seconds."""

    def __init__(self, key: str, owner: str, ttl_s: float) -> None:
        self.key, self.owner, self.ttl_s = key, owner, ttl_s
        self.held = False
        self.handed_over = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        written = take(self.key, self.owner, self.ttl_s)
        self.held = written is not None
        if written is not None:
            self.owner = written
            self._thread = threading.Thread(target=self._beat, name=f"lease {self.key}",
                                            daemon=True)
            self._thread.start()
        return self.held

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not renew(self.key, self.owner, self.ttl_s):
                    log.warning("lease %s was taken over; stopping its heartbeat", self.key)
                    return
            except Exception:  # noqa: BLE001 - a database blip; the next beat retries
                log.exception("could not renew lease %s", self.key)

    def _halt(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def hand_over(self, placeholder: str, hold_s: float) -> None:
        """Stop renewing and leave a placeholder (see ``hand_over``) instead of releasing."""
        self._halt()
        if self.held:
            hand_over(self.key, self.owner, placeholder, hold_s)
            self.handed_over = True

    def stop(self) -> None:
        self._halt()
        if self.held and not self.handed_over:
            release(self.key, self.owner)


@contextmanager
def lease(key: str, owner: str, ttl_s: float = LEASE_TTL_S) -> Iterator[Lease]:
    """``with lease(k, me) as l: if l.held: work()`` — renewed while the block runs,
    released on exit unless handed over; lapses within ``ttl_s`` if the process dies."""
    held = Lease(key, owner, ttl_s)
    held.start()
    try:
        yield held
    finally:
        held.stop()
