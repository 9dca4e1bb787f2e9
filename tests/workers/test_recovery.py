"""Recovery in seconds: a real worker process killed with -9 mid-transcription or mid-analysis
has its job re-queued from its lapsed lease (no 35-minute wait) and finished exactly once:
one report version, one outbox row, one CRM activity. Runs on the embedded broker, or on
Redis and PostgreSQL with SALESCOACH_TEST_BROKER_URL / SALESCOACH_TEST_DATABASE_URL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from plugin.db import db
from plugin.models import Call, OutboxItem, Recording, Report, TaskLock, Turn
from tests.workers.conftest import test_broker_url, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TENANT = "sf:00DRECOVERY0001"


@pytest.fixture(scope="module")
def recovery_app(database_url: str, worker_instance: Path) -> Any:
    """The enqueueing side: same database, broker and instance folder as the workers."""
    from plugin.app import create_app

    return create_app({"env": "test", "database_url": database_url,
                       "instance_path": worker_instance, "secret_key": "test-secret",
                       "broker_url": test_broker_url(worker_instance), "demo": True,
                       "embeddings": False})


class Workers:
    """Worker processes (``salescoach worker --beat``) started, killed and stopped by a test."""

    def __init__(self, app: Any, instance: Path) -> None:
        settings = app.config["SETTINGS"]
        self.instance = instance
        self.env = {**os.environ, "PYTHONPATH": str(ROOT),
                    "SALESCOACH_INSTANCE_PATH": str(instance),
                    "SALESCOACH_DATABASE_URL": settings.database_url,
                    "SALESCOACH_BROKER_URL": settings.broker_url,
                    "SALESCOACH_SECRET_KEY": "test-secret", "SALESCOACH_ENV": "development",
                    "SALESCOACH_DEMO": "true", "SALESCOACH_EMBEDDINGS": "false"}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, node: str) -> subprocess.Popen[bytes]:
        log = open(self.instance / f"{node}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "plugin.cli", "worker", "--pool", "threads", "-c", "2",
             "-n", f"{node}@%h", "--beat", "--loglevel", "INFO"],
            env=self.env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def signal(self, proc: subprocess.Popen[bytes], sig: int) -> None:
        os.killpg(proc.pid, sig)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def log(self, node: str) -> str:
        path = self.instance / f"{node}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


@pytest.fixture
def workers(recovery_app: Any, worker_instance: Path) -> Iterator[Workers]:
    w = Workers(recovery_app, worker_instance)
    try:
        yield w
    finally:
        w.close()


def lease_owner(key: str) -> str:
    with db.session_scope() as s:
        row = s.get(TaskLock, key)
        return row.owner if row is not None else ""


def exactly_once(call_id: str, crm: Any) -> tuple[int, int, list[Any]]:
    """(reports, outbox rows, CRM activities) of a call."""
    with db.session_scope() as s:
        reports = s.scalar(select(func.count()).select_from(Report)
                           .where(Report.call_id == call_id))
        rows = s.scalar(select(func.count()).select_from(OutboxItem)
                        .where(OutboxItem.call_id == call_id))
    return int(reports or 0), int(rows or 0), crm.activities(call_id)


def test_worker_killed_mid_transcription_is_replaced_and_finishes_once(
        recovery_app: Any, workers: Workers, crm: Any, call_wav: Path) -> None:
    from plugin.pipeline import submit_recording
    from plugin.pipeline.recordings import store_upload

    crm.connect(TENANT)
    record_id, record_type = crm.person()
    settings = recovery_app.config["SETTINGS"]
    with recovery_app.app_context():
        with call_wav.open("rb") as fh:
            stored = store_upload(settings, tenant_id=TENANT, user_id=None, filename="k.wav",
                                  stream=fh, record_id=record_id, record_type=record_type)
        first = workers.start("first")
        submit_recording(stored.recording_id)
        key = f"transcribe:{stored.recording_id}"

        def transcribing() -> bool:
            with db.session_scope() as s:
                rec = s.get(Recording, stored.recording_id)
                stage = rec.stage if rec is not None else ""
            return stage == "transcribing" and lease_owner(key).startswith("first@")

        # given a worker in the middle of transcribing the recording
        wait_for(transcribing, timeout=180, every=0.1, what="the transcription to start")
        # when it is killed with -9 (its embedded beat with it) and another node takes over
        workers.kill(first)
        with db.session_scope() as s:
            rec = s.get(Recording, stored.recording_id)
            assert rec is not None and rec.stage == "transcribing"
        workers.start("second")
        # then the lapsed lease is re-queued and the recording finishes: one report, one row,
        # one activity in the CRM
        final = wait_for(lambda: _finished(stored.recording_id), timeout=240, every=0.5,
                         what="the re-queued recording to finish")
        assert final == ("done", "done")
        reports, rows, acts = exactly_once(stored.call_id, crm)
        assert (reports, rows, len(acts)) == (1, 1, 1)
    assert f"re-queuing {key}" in workers.log("second") + workers.log("first")


def test_worker_killed_mid_analysis_restarts_and_finishes_once(
        recovery_app: Any, workers: Workers, crm: Any) -> None:
    from plugin.pipeline import submit_call

    crm.connect(TENANT)
    record_id, record_type = crm.person()
    lines = [("rep", "What is slowing your team down this quarter?"),
             ("customer", "Honestly the price looks too high for our budget."),
             ("rep", "I understand. What budget did you plan? I can send options by Friday."),
             ("customer", "Send me a proposal and we can meet next Tuesday.")]
    with db.session_scope() as s:
        call = Call(tenant_id=TENANT, record_id=record_id, record_type=record_type,
                    source="panel", status="ended", title="Killed mid-analysis")
        s.add(call)
        s.flush()
        for seq in range(120):
            speaker, text = lines[seq % len(lines)]
            s.add(Turn(tenant_id=TENANT, call_id=call.id, seq=seq, speaker=speaker, text=text,
                       start_ms=seq * 4000, end_ms=seq * 4000 + 3500))
        call_id = call.id
    key = f"analyse:{call_id}"
    with recovery_app.app_context():
        worker = workers.start("solo")
        wait_for(lambda: "ready" in workers.log("solo"), timeout=120, every=0.2,
                 what="the worker to be ready")
        submit_call(call_id)
        # given the worker holding the analysis lease: freeze it there, then kill it
        wait_for(lambda: lease_owner(key).startswith("solo@"), timeout=120, every=0.01,
                 what="the analysis to start")
        workers.signal(worker, signal.SIGSTOP)
        workers.kill(worker)
        assert lease_owner(key).startswith("solo@")
        # when the same node comes back (its start-up lapses the dead process's lease at once)
        workers.start("solo")
        # then the analysis is re-queued and done exactly once
        wait_for(lambda: exactly_once(call_id, crm)[2], timeout=180, every=0.5,
                 what="the CRM activity of the re-analysed call")
        wait_for(lambda: lease_owner(key) == "", timeout=60, what="the lease to be released")
    reports, rows, acts = exactly_once(call_id, crm)
    assert (reports, rows, len(acts)) == (1, 1, 1)
    assert f"re-queuing {key}" in workers.log("solo")


def _finished(recording_id: str) -> tuple[str, str] | None:
    with db.session_scope() as s:
        rec = s.get(Recording, recording_id)
        if rec is None:
            return None
        if rec.status == "failed":
            raise AssertionError(f"recording failed: {rec.error}")
        return (rec.status, rec.stage) if rec.stage == "done" else None


def test_a_killed_worker_leaves_no_orphaned_embedded_beat(workers: Workers) -> None:
    from pathlib import Path as P

    worker = workers.start("orphans")
    wait_for(lambda: "ready" in workers.log("orphans"), timeout=120, every=0.2,
             what="the worker to be ready")

    def beat_child() -> int | None:
        for entry in P("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == worker.pid:
                    return int(entry.name)
        return None

    beat = wait_for(beat_child, timeout=60, what="the embedded beat process")
    # when only the worker's own process is killed (not its group)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    # then its beat child follows it (PR_SET_PDEATHSIG), rather than scheduling on alone
    wait_for(lambda: not P(f"/proc/{beat}").exists()
             or P(f"/proc/{beat}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z",
             timeout=30, what="the beat child to exit")
