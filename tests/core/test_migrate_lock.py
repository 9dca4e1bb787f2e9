"""Migrations take a lock: while one migration holds it, another waits (on PostgreSQL an
advisory lock, on SQLite a file lock), then finds the database at heads and does nothing."""

from __future__ import annotations

import fcntl
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from plugin import migrate

SERVER = os.environ.get("SALESCOACH_TEST_DATABASE_URL", "") or \
    "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_available() -> bool:
    try:
        engine = create_engine(SERVER)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not _postgres_available():
        pytest.skip("no PostgreSQL server at SALESCOACH_TEST_DATABASE_URL")
    name = f"salescoach_lock_{uuid.uuid4().hex[:10]}"
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _upgrade_in_thread(url: str) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(url)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_a_second_migration_waits_for_the_advisory_lock_on_postgresql(pg_url: str) -> None:
    holder = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with holder.connect() as conn:
        # given another pod holding the migration lock
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": migrate.LOCK_KEY})
        thread, errors = _upgrade_in_thread(pg_url)
        # then this migration waits on it: an ungranted advisory lock, nothing migrated
        deadline = time.monotonic() + 30
        waiting = 0
        while time.monotonic() < deadline and not waiting:
            waiting = int(conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )).scalar() or 0)
            time.sleep(0.05)
        assert waiting == 1 and thread.is_alive()
        assert not migrate_tables(conn)
        # when the other pod is done, it runs
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": migrate.LOCK_KEY})
        thread.join(timeout=120)
        assert not thread.is_alive() and not errors
        assert "task_locks" in migrate_tables(conn)
    holder.dispose()
    assert not migrate.pending(pg_url)
    migrate.upgrade(pg_url)  # a second run finds nothing to do


def migrate_tables(conn: object) -> set[str]:
    rows = conn.execute(text(  # type: ignore[attr-defined]
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    return {r[0] for r in rows}


def test_a_second_migration_waits_for_the_file_lock_on_sqlite(tmp_path: Path) -> None:
    db_file = tmp_path / "lock.db"
    url = f"sqlite:///{db_file}"
    lock_file = db_file.with_suffix(".migrate.lock")
    with lock_file.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        thread, errors = _upgrade_in_thread(url)
        thread.join(timeout=1.0)
        assert thread.is_alive() and not db_file.exists()  # waiting, nothing touched
        fcntl.flock(fh, fcntl.LOCK_UN)
    thread.join(timeout=120)
    assert not thread.is_alive() and not errors
    assert not migrate.pending(url)
