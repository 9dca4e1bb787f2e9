"""``task_lock``: one run per key at a time; expired or restarted-node locks can be taken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from plugin.db import db
from plugin.models import TaskLock
from plugin.pipeline.locks import acquire, release_node, task_lock


def test_second_run_of_the_same_key_is_refused_until_the_first_ends(app: Any) -> None:
    with task_lock("transcribe:r1", "w@h:1:a", 60) as first:
        with task_lock("transcribe:r1", "w@h:1:b", 60) as second:
            assert first and not second
        with task_lock("transcribe:r2", "w@h:1:b", 60) as other_key:
            assert other_key
    with task_lock("transcribe:r1", "w@h:1:c", 60) as later:
        assert later


def test_expired_lock_of_a_dead_worker_can_be_taken(app: Any) -> None:
    assert acquire("analyse:c1", "dead@h:7:x", 60)
    with db.session_scope() as s:
        row = s.get(TaskLock, "analyse:c1")
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert acquire("analyse:c1", "w@h:1:y", 60)


def test_restarted_node_frees_only_its_earlier_process_locks(app: Any) -> None:
    assert acquire("analyse:c2", "node@h:100:x", 600)
    assert acquire("analyse:c3", "node@h:200:y", 600)
    assert acquire("analyse:c4", "other@h:100:z", 600)
    assert release_node("node@h", live_pid=200) == 1
    assert acquire("analyse:c2", "node@h:200:new", 600)
    assert not acquire("analyse:c3", "node@h:200:again", 600)
    assert not acquire("analyse:c4", "node@h:200:again", 600)
