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
