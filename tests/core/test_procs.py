"""The supervisor of ``salescoach run``: a child killed with -9 takes its own children with it
and is restarted; a child that keeps dying stops everything; killing the supervisor with -9
leaves no orphan (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A child that starts a grandchild (like gunicorn its workers), records both pids, sleeps;
# on SIGTERM it stops the grandchild and exits, as the real servers do.
PARENT = """
import json, signal, subprocess, sys, time
g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
def stop(*_):
    g.terminate(); g.wait(); sys.exit(0)
signal.signal(signal.SIGTERM, stop)
with open(sys.argv[1], "a") as fh:
    fh.write(json.dumps({"child": __import__("os").getpid(), "grandchild": g.pid}) + "\\n")
time.sleep(600)
"""

SUPERVISE = """
import sys
from plugin.procs import Supervisor
children = [("busy", [sys.executable, "-c", sys.argv[1], sys.argv[2]]),
            ("crasher", [sys.executable, "-c", "import sys; sys.exit(3)"] if sys.argv[3] == "1"
             else [sys.executable, "-c", "import time; time.sleep(600)"])]
sys.exit(Supervisor(children, max_restarts=3, window_s=60, max_backoff_s=0.5).run(0.1))
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def wait(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def pids(path: Path) -> list[dict[str, int]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    started: list[subprocess.Popen[bytes]] = []

    def start(crash: bool = False) -> tuple[subprocess.Popen[bytes], Path]:
        record = tmp_path / f"pids-{len(started)}.jsonl"
        proc = subprocess.Popen([sys.executable, "-c", SUPERVISE, PARENT, str(record),
                                 "1" if crash else "0"], cwd=str(ROOT),
                                env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started.append(proc)
        return proc, record

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_a_killed_child_takes_its_children_and_is_restarted(supervise) -> None:  # type: ignore[no-untyped-def]
    sup, record = supervise()
    first = wait(lambda: pids(record))[0]
    os.kill(first["child"], signal.SIGKILL)
    # the grandchild it left is killed with its process group, and the child comes back
    wait(lambda: not alive(first["grandchild"]))
    second = wait(lambda: len(pids(record)) >= 2 and pids(record)[1])
    assert second["child"] != first["child"] and alive(second["child"])
    # SIGTERM to the supervisor stops everything cleanly
    sup.send_signal(signal.SIGTERM)
    assert sup.wait(timeout=30) == 0
    assert not alive(second["child"]) and not alive(second["grandchild"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_killing_the_supervisor_with_9_leaves_no_orphan(supervise) -> None:  # type: ignore[no-untyped-def]
    sup, record = supervise()
    first = wait(lambda: pids(record))[0]
    sup.kill()
    sup.wait()
    # the kernel sends SIGTERM to each child (PR_SET_PDEATHSIG), which stops its own
    wait(lambda: not alive(first["child"]) and not alive(first["grandchild"]))


def test_a_child_that_keeps_dying_stops_everything(supervise) -> None:  # type: ignore[no-untyped-def]
    sup, record = supervise(crash=True)
    first = wait(lambda: pids(record))[0]
    out, _ = sup.communicate(timeout=60)
    assert sup.returncode == 1
    text = out.decode()
    assert "crasher exited with 3; restarting" in text
    assert "stopping everything" in text
    assert not alive(first["child"]) and not alive(first["grandchild"])
