"""One-time markers: a replay cache for signed requests and single-use tokens.

``first_use(kind, value, ttl_s)`` is True the first time ``value`` is presented within
``ttl_s`` and False on every later try, across web processes: each use is a ``task_locks``
row (key ``<kind>:<sha256>``, expiring), so the cache lives in the database every process
shares, stays bounded by the signing window, and forgets a value once it could no longer
verify anyway.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import delete

from plugin.db import db
from plugin.models import TaskLock
from plugin.pipeline.locks import acquire


def first_use(kind: str, value: str, ttl_s: float) -> bool:
    """Record ``value`` as used; False when it was already used within its window."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    key = f"{kind}:{digest}"
    with db.session_scope() as s:  # forget markers whose values can no longer verify
        s.execute(delete(TaskLock).where(TaskLock.key.like(kind + ":%"),
                                         TaskLock.expires_at < datetime.now(UTC)))
    # the owner is unique, so a second presentation never counts as re-taking its own lock
    return acquire(key, f"once:{secrets.token_hex(8)}", ttl_s)
