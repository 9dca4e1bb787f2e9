"""``task_lock`` and leases: one run per key at a time; a lease lapses when its holder stops
renewing it and is then reclaimed once for re-queuing; restarted-node locks lapse at once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from plugin.db import db
from plugin.models import TaskLock
from plugin.pipeline.locks import acquire, lease, reclaim_lapsed, release_node, task_lock


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


def _expire(key: str, seconds_ago: float = 1.0) -> None:
    with db.session_scope() as s:
        row = s.get(TaskLock, key)
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=seconds_ago)


def _owner(key: str) -> str | None:
    with db.session_scope() as s:
        row = s.get(TaskLock, key)
        return row.owner if row is not None else None


def test_a_lease_is_renewed_while_held_and_released_after(app: Any) -> None:
    with lease("transcribe:l1", "w@h:1:a", ttl_s=0.6) as held:
        assert held.held
        time.sleep(1.5)  # well past the TTL: only the heartbeat keeps it
        assert reclaim_lapsed() == []
        with lease("transcribe:l1", "w@h:2:b", ttl_s=0.6) as other:
            assert not other.held
    assert _owner("transcribe:l1") is None


def test_a_lapsed_lease_is_reclaimed_once_and_counts_the_dead_holder(app: Any) -> None:
    assert acquire("transcribe:l2", "dead@h:7:x", 60)
    _expire("transcribe:l2")
    first = reclaim_lapsed()
    assert [(u.kind, u.target, u.reclaims) for u in first] == [("transcribe", "l2", 1)]
    # A second sweep before the grace ends queues nothing more.
    assert reclaim_lapsed() == []
    # Nobody took the re-queued message: queued again, the count unchanged (no one died).
    _expire("transcribe:l2")
    assert [u.reclaims for u in reclaim_lapsed()] == [1]
    # The re-queued run takes the placeholder at once; its death counts a second lapse.
    assert acquire("transcribe:l2", "w@h:1:y", 60)
    _expire("transcribe:l2")
    assert [u.reclaims for u in reclaim_lapsed()] == [2]


def test_only_pipeline_units_are_reclaimed(app: Any) -> None:
    assert acquire("popout:abc", "used", 60)
    _expire("popout:abc")
    assert acquire("analyse:l3", "dead@h:7:z", 60)
    _expire("analyse:l3")
    assert [u.key for u in reclaim_lapsed()] == ["analyse:l3"]
    assert _owner("popout:abc") == "used"


def test_a_retry_placeholder_is_reclaimed_only_when_the_retry_never_came(app: Any) -> None:
    with lease("analyse:l4", "w@h:1:t1", ttl_s=30) as held:
        held.hand_over("retry:t1", hold_s=60)
    assert _owner("analyse:l4") == "retry:t1"
    assert reclaim_lapsed() == []
    _expire("analyse:l4")
    assert [(u.key, u.reclaims) for u in reclaim_lapsed()] == [("analyse:l4", 0)]


def test_restart_of_a_node_lapses_its_dead_process_leases_at_once(app: Any) -> None:
    assert acquire("transcribe:l5", "node5@h:100:x", 600)
    assert release_node("node5@h", live_pid=200) == 1
    assert [u.key for u in reclaim_lapsed()] == ["transcribe:l5"]


def test_the_sweep_gives_up_on_a_unit_that_killed_its_worker_too_often(app: Any) -> None:
    from plugin.models import Call, Recording
    from plugin.pipeline import sweep
    from plugin.tenancy import ensure_tenant

    with db.session_scope() as s:
        ensure_tenant(s, "t-locks", "demo")
        call = Call(tenant_id="t-locks", status="ended", source="upload", title="x")
        s.add(call)
        s.flush()
        rec = Recording(tenant_id="t-locks", call_id=call.id, filename="x.wav", path="/nope",
                        status="running", stage="transcribing")
        s.add(rec)
        s.flush()
        rec_id, call_id = rec.id, call.id
    key = f"transcribe:{rec_id}"
    assert acquire(key, f"reclaimed:{sweep.MAX_RECLAIMS}", 60)
    assert acquire(key, "w@h:1:last", 60)  # the last permitted run took it, then died
    _expire(key)
    assert sweep.reclaim() == {"reclaimed": 0, "given_up": 1}
    with db.session_scope() as s:
        rec = s.get(Recording, rec_id)
        assert rec is not None and rec.status == "failed"
        assert "stopped its worker" in rec.error
        call = s.get(Call, call_id)
        assert call is not None and call.status == "failed"
    assert _owner(key) is None
