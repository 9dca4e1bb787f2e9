"""Worker test fixtures: a spoken stereo call (espeak-ng + sox), a real Celery worker on the
test broker (Redis when SALESCOACH_TEST_BROKER_URL is set, else the filesystem broker in tmp),
and helpers to wait for the pipeline."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support import migrated_database

T = TypeVar("T")

# (speaker, text): rep on the left channel, customer on the right.
DIALOGUE = [
    ("rep", "Hi Sam, thanks for taking the time today. How do you coach your sales team now?"),
    ("customer", "Honestly, it is too expensive for us. We do not have the budget this year."),
    ("rep", "I understand, budget matters. What would it need to cost to make sense for you?"),
    ("customer", "Maybe next quarter. Send me a proposal and we can talk again."),
    ("rep", "Great. I will send the proposal on Friday and we can meet next Tuesday."),
]


def _run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True)


def _speak(text: str, voice: str, out: Path) -> Path:
    raw = out.with_suffix(".raw.wav")
    _run("espeak-ng", "-v", voice, "-s", "155", "-w", str(raw), text)
    _run("sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out))
    raw.unlink()
    return out


def make_call_wav(folder: Path, dialogue: list[tuple[str, str]] = DIALOGUE) -> Path:
    """A stereo 16 kHz WAV of the dialogue: each turn on its speaker's channel, 0.4 s apart."""
    folder.mkdir(parents=True, exist_ok=True)
    segments = []
    for i, (speaker, text) in enumerate(dialogue):
        voice = _speak(text, "en-us" if speaker == "rep" else "en-us+f3", folder / f"v{i}.wav")
        quiet = folder / f"q{i}.wav"
        _run("sox", str(voice), str(quiet), "vol", "0")
        seg = folder / f"seg{i}.wav"
        pair = [voice, quiet] if speaker == "rep" else [quiet, voice]
        _run("sox", "-M", str(pair[0]), str(pair[1]), str(seg), "pad", "0", "0.4")
        segments.append(str(seg))
    out = folder / "call.wav"
    _run("sox", *segments, str(out))
    return out


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh migrated database per worker test module, so a sweep or a worker sees only the
    rows of its own module (PostgreSQL when SALESCOACH_TEST_DATABASE_URL is set)."""
    yield from migrated_database(tmp_path_factory, "workers")


@pytest.fixture(scope="session")
def call_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_call_wav(tmp_path_factory.mktemp("call-audio"))


def wait_for(check: Callable[[], T | None], timeout: float = 120.0, every: float = 0.2,
             what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    return wait_for


def test_broker_url(tmp: Path) -> str:
    return os.environ.get("SALESCOACH_TEST_BROKER_URL", "") or "filesystem://"


test_broker_url.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def worker_instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker-instance")


@pytest.fixture(scope="module")
def worker_app(database_url: str, worker_instance: Path) -> Any:
    """A Flask app whose Celery app uses the test broker (own queue names on Redis)."""
    from plugin.app import create_app

    broker = test_broker_url(worker_instance)
    app = create_app({"env": "test", "database_url": database_url,
                      "instance_path": worker_instance, "secret_key": "test-secret",
                      "broker_url": broker, "demo": True})
    celery_app = app.extensions["celery"]
    if broker.startswith("redis"):
        # Runs sharing the Redis server must not consume each other's messages.
        prefix = f"salescoach-test-{uuid.uuid4().hex[:8]}-"
        celery_app.conf.broker_transport_options = {"global_keyprefix": prefix,
                                                    "visibility_timeout": 3600}
    return app


@pytest.fixture(scope="module")
def celery_worker(worker_app: Any) -> Iterator[Any]:
    """A real Celery worker (threads pool) consuming every queue, in this process."""
    from celery.contrib.testing.worker import start_worker

    celery_app = worker_app.extensions["celery"]
    celery_app.set_default()
    with start_worker(celery_app, pool="threads", concurrency=2, perform_ping_check=False,
                      shutdown_timeout=30, loglevel="WARNING") as worker:
        yield worker


class Crm:
    """The CRM sandbox of the worker tests: connect tenants, inject faults, list activities."""

    def __init__(self, handle: Any, settings: Any) -> None:
        from plugin.crm.http import CrmSession

        self.handle, self.settings = handle, settings
        self.http = CrmSession(verify=handle.ca_path)  # verify wins over REQUESTS_CA_BUNDLE
        self.http.headers.update(handle.admin_headers)  # the sandbox's admin API

    def connect(self, tenant_id: str, kind: str = "salesforce") -> None:
        """Give ``tenant_id`` a CRM connection to the sandbox (tokens minted by it)."""
        from datetime import UTC, datetime, timedelta

        from plugin.crm import save_connection
        from plugin.crm.tokens import OAuthTokens
        from plugin.db import db
        from plugin.sandbox.config import sandbox_credentials
        from plugin.tenancy import ensure_tenant, ensure_user

        creds = sandbox_credentials(self.settings)
        client = creds.sf_client_id if kind == "salesforce" else creds.hs_client_id
        minted = self.handle.state.store.issue_tokens(kind, client)
        with db.session_scope() as s:
            ensure_tenant(s, tenant_id, kind)
            ensure_user(s, tenant_id, "rep-1", name="Rep One")
            ensure_user(s, tenant_id, "admin-1", name="Ada Admin", role="admin")
            save_connection(s, self.settings, tenant_id, kind, OAuthTokens(
                access_token=minted["access_token"], refresh_token=minted["refresh_token"],
                instance_url=self.handle.base_url,
                expires_at=datetime.now(UTC) + timedelta(seconds=int(minted["expires_in"]))))

    def person(self, kind: str = "salesforce") -> tuple[str, str]:
        """(record id, record type) of a seeded demo contact."""
        people = self.http.get(self.handle.base_url + "/_sandbox/directory").json()["people"]
        p = next(p for p in people if p["sf_type"] == "Contact")
        return (p["sf_id"], "Contact") if kind == "salesforce" else (p["hs_id"], "contact")

    def fault(self, **spec: Any) -> None:
        resp = self.http.post(self.handle.base_url + "/_sandbox/faults", json=spec)
        assert resp.status_code == 201, resp.text

    def clear_faults(self) -> None:
        self.http.delete(self.handle.base_url + "/_sandbox/faults")

    def activities(self, needle: str = "") -> list[dict[str, Any]]:
        """Activities created in the sandbox (those mentioning ``needle`` if given)."""
        import json

        acts = self.http.get(self.handle.base_url + "/_sandbox/activities").json()["activities"]
        return [a for a in acts if needle in json.dumps(a)]


@pytest.fixture(scope="module")
def crm(worker_app: Any) -> Iterator[Crm]:
    from plugin.sandbox.server import start_sandbox

    settings = worker_app.config["SETTINGS"]
    handle = start_sandbox(settings.instance_path)
    try:
        yield Crm(handle, settings)
    finally:
        handle.stop()
