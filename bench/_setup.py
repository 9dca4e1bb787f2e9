"""Shared set-up of the worker benchmarks: a throw-away instance (SQLite, filesystem broker),
the CRM sandbox in this process, a tenant connected to it, calls with reports and outbox rows,
and a real ``salescoach worker`` subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LINES = [("rep", "Thanks for making time today. What is slowing your team down this quarter?"),
         ("customer", "Deals stall after the demo, and honestly the price looks too high."),
         ("rep", "I understand. What budget did you plan for this? I can send options."),
         ("customer", "Around twenty thousand. Send me a proposal by Friday."),
         ("rep", "Will do. Can we book a call next Tuesday to go through it together?"),
         ("customer", "Yes, Tuesday works.")]


class Bench:
    """One benchmark environment; ``close()`` stops everything it started."""

    def __init__(self, *, broker_url: str = "", embeddings: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="salescoach-bench-"))
        self.env = {**os.environ, "SALESCOACH_INSTANCE_PATH": str(self.dir),
                    "SALESCOACH_SECRET_KEY": "bench-secret", "SALESCOACH_DEMO": "true",
                    "SALESCOACH_EMBEDDINGS": "true" if embeddings else "false",
                    "SALESCOACH_ENV": "development"}
        if broker_url:
            self.env["SALESCOACH_BROKER_URL"] = broker_url
        for key, value in self.env.items():
            if key.startswith("SALESCOACH_"):
                os.environ[key] = value
        from plugin import migrate
        from plugin.app import create_app
        from plugin.settings import load_settings

        self.settings = load_settings()
        migrate.upgrade(self.settings.database_url)
        self.app = create_app(settings=self.settings)
        self.worker: subprocess.Popen[bytes] | None = None
        self.sandbox: Any = None
        self.log = open(self.dir / "worker.log", "ab")  # noqa: SIM115 - closed in close()

    # -- CRM sandbox ----------------------------------------------------------------------
    def start_sandbox(self) -> Any:
        from plugin.sandbox.server import start_sandbox

        self.sandbox = start_sandbox(self.settings.instance_path)
        return self.sandbox

    def connect(self, tenant_id: str, kind: str) -> None:
        from plugin.crm import save_connection
        from plugin.crm.tokens import OAuthTokens
        from plugin.db import db
        from plugin.sandbox.config import sandbox_credentials
        from plugin.tenancy import ensure_tenant, ensure_user

        creds = sandbox_credentials(self.settings)
        client = creds.sf_client_id if kind == "salesforce" else creds.hs_client_id
        minted = self.sandbox.state.store.issue_tokens(kind, client)
        with db.session_scope() as s:
            ensure_tenant(s, tenant_id, kind)
            ensure_user(s, tenant_id, "bench-rep", name="Bench Rep")
            save_connection(s, self.settings, tenant_id, kind, OAuthTokens(
                access_token=minted["access_token"], refresh_token=minted["refresh_token"],
                instance_url=self.sandbox.base_url,
                expires_at=datetime.now(UTC) + timedelta(hours=8)))

    def person(self, kind: str) -> str:
        from plugin.sandbox.seed_data import directory

        people = directory(self.sandbox.state.ident["sf_org_id"])
        p = next(p for p in people if p["sf_type"] == "Contact")
        return str(p["sf_id"] if kind == "salesforce" else p["hs_id"])

    def activities(self) -> list[dict[str, Any]]:
        out = []
        for rec in self.sandbox.state.store.created_activities():
            out.append({"id": rec["id"], "obj": rec["obj"], "text": json.dumps(rec["data"])})
        return out

    # -- calls ----------------------------------------------------------------------------
    def make_calls(self, n: int, tenant_id: str, record_id: str,
                   record_type: str) -> list[tuple[str, int]]:
        """``n`` finished calls, each analysed into a report with its outbox row."""
        from plugin.db import db
        from plugin.models import Call, Turn
        from plugin.pipeline import stages

        out = []
        with self.app.app_context():
            for i in range(n):
                with db.session_scope() as s:
                    call = Call(tenant_id=tenant_id, record_id=record_id, record_type=record_type,
                                source="panel", status="ended", title=f"Bench call {i + 1}")
                    s.add(call)
                    s.flush()
                    for seq, (speaker, text) in enumerate(LINES):
                        s.add(Turn(tenant_id=tenant_id, call_id=call.id, seq=seq, speaker=speaker,
                                   text=text, start_ms=seq * 6000, end_ms=seq * 6000 + 5000))
                    call_id = call.id
                version = stages.analyse(call_id, self.settings)
                assert version is not None
                item_id = stages.queue_writeback(call_id, version, self.settings)
                assert item_id is not None
                out.append((call_id, item_id))
        return out

    def enqueue_all(self, items: list[int]) -> None:
        from plugin.pipeline.dispatch import DELIVER, enqueue

        with self.app.app_context():
            for item_id in items:
                enqueue(DELIVER, item_id)

    def outbox_status(self) -> dict[str, int]:
        from sqlalchemy import func, select

        from plugin.db import db
        from plugin.models import OutboxItem

        with db.session_scope() as s:
            return dict(s.execute(select(OutboxItem.status, func.count())  # type: ignore[arg-type]
                                  .group_by(OutboxItem.status)).all())

    # -- worker subprocess ----------------------------------------------------------------
    def start_worker(self, concurrency: int = 2, beat: bool = True) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "plugin.cli", "worker", "--pool", "threads",
                "-c", str(concurrency), "-n", "bench@%h", "--loglevel", "WARNING",
                "--beat" if beat else "--no-beat"]
        self.worker = subprocess.Popen(argv, env=self.env, cwd=str(ROOT), stdout=self.log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        return self.worker

    def kill_worker(self) -> None:
        """kill -9 the worker and everything it started (its process group)."""
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()
        self.worker = None

    def stop_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_worker()
        self.worker = None

    def close(self) -> None:
        self.stop_worker()
        if self.sandbox is not None:
            self.sandbox.stop()
        self.log.close()


def wait_until(check: Any, timeout: float, every: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False
