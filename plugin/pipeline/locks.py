"""``task_lock`` (after Superset's): at most one run of a unit of work per key at a time.

A lock is a ``task_locks`` row with an owner (``<node>:<pid>``) and an expiry; a crashed
owner's lock can be taken once it expires, or at once when its node restarts
(``release_node``). Used so a redelivered or duplicated transcription/analysis message does
not run the same work twice concurrently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from plugin.db import db
from plugin.models import TaskLock


def acquire(key: str, owner: str, ttl_s: float) -> bool:
    """Take the lock for ``key`` (or an expired one); False when someone else holds it."""
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl_s)
    try:
        with db.session_scope() as s:
            s.add(TaskLock(key=key, owner=owner, expires_at=expires))
        return True
    except IntegrityError:
        pass
    with db.session_scope() as s:
        taken = s.execute(update(TaskLock)
                          .where(TaskLock.key == key,
                                 (TaskLock.expires_at < now) | (TaskLock.owner == owner))
                          .values(owner=owner, expires_at=expires)
                          .execution_options(synchronize_session=False))
        return bool(taken.rowcount)  # type: ignore[attr-defined]


def release(key: str, owner: str) -> None:
    with db.session_scope() as s:
        s.execute(delete(TaskLock).where(TaskLock.key == key, TaskLock.owner == owner))


def release_node(node: str, live_pid: int) -> int:
    """Free the locks an earlier process of ``node`` held (it is gone if the node restarted).
    Owners are ``<node>:<pid>:<task id>``."""
    with db.session_scope() as s:
        result = s.execute(delete(TaskLock).where(TaskLock.owner.like(f"{node}:%"),
                                                  ~TaskLock.owner.like(f"{node}:{live_pid}:%")))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@contextmanager
def task_lock(key: str, owner: str, ttl_s: float) -> Iterator[bool]:
    """``with task_lock(k, me, 600) as mine: if mine: work()`` — released on exit."""
    mine = acquire(key, owner, ttl_s)
    try:
        yield mine
    finally:
        if mine:
            release(key, owner)
