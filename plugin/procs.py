"""Child processes that never outlive their parent, and the supervisor of ``salescoach run``.

``die_with_parent()`` asks Linux (``prctl(PR_SET_PDEATHSIG)``) to kill this process when its
parent dies, even by ``kill -9``. ``Supervisor`` runs each child in its own process group
(so its own children go with it), restarts a child that dies with an exponential backoff,
and stops everything cleanly when a child keeps dying or on SIGTERM/SIGINT.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Have the kernel send ``sig`` to this process when its parent exits (Linux only);
    exits at once if the parent is already gone. Returns whether it could be set."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except OSError:
        return False
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)
    return True


def _child_setup() -> None:
    """In the child, before exec: own process group, killed when the supervisor dies."""
    os.setpgrp()
    die_with_parent(signal.SIGTERM)


@dataclass
class Child:
    """One supervised command and its restart bookkeeping."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)  # monotonic times of restarts
    next_start: float = 0.0


class Supervisor:
    """Start, watch and restart children; ``stop()`` ends them all (whole process groups).

    A child that exits is restarted after ``backoff(n)`` seconds (1, 2, 4 … up to
    ``max_backoff_s``); more than ``max_restarts`` restarts within ``window_s`` means it is
    broken, and the supervisor stops everything instead of looping.
    """

    def __init__(self, children: Sequence[tuple[str, list[str]]], *,
                 env: dict[str, str] | None = None, max_restarts: int = 5,
                 window_s: float = 300.0, max_backoff_s: float = 30.0,
                 echo: Callable[[str], None] = print) -> None:
        self.children = [Child(name, list(argv)) for name, argv in children]
        self.env, self.echo = env, echo
        self.max_restarts, self.window_s, self.max_backoff_s = max_restarts, window_s, \
            max_backoff_s
        self.stopping = False

    def backoff(self, n: int) -> float:
        return float(min(self.max_backoff_s, 2 ** max(0, n - 1)))

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.argv, env=self.env, preexec_fn=_child_setup)  # noqa: PLW1509
        log.info("started %s (pid %d)", child.name, child.proc.pid)

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _reap_group(self, child: Child) -> None:
        """Kill whatever the dead child left in its process group (e.g. an embedded beat)."""
        if child.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)

    def poll(self, now: float | None = None) -> bool:
        """One supervision step; False once the supervisor gave up (everything stopped)."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            proc = child.proc
            if proc is not None and proc.poll() is not None:
                self._reap_group(child)
                child.restarts = [t for t in child.restarts if now - t < self.window_s]
                if len(child.restarts) >= self.max_restarts:
                    self.echo(f"{child.name} died {len(child.restarts) + 1} times in "
                              f"{self.window_s:.0f} s (last exit {proc.returncode}); "
                              f"stopping everything")
                    self.stop()
                    return False
                child.restarts.append(now)
                delay = self.backoff(len(child.restarts))
                child.next_start = now + delay
                child.proc = None
                self.echo(f"{child.name} exited with {proc.returncode}; "
                          f"restarting in {delay:.0f} s")
            elif proc is None and not self.stopping and now >= child.next_start:
                self._spawn(child)
        return True

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM every child's group, wait up to ``timeout_s``, then SIGKILL the rest."""
        self.stopping = True
        live = [c for c in self.children if c.proc is not None]
        for child in live:
            assert child.proc is not None
            if child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in live:
            assert child.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            self._reap_group(child)
            child.proc.poll()

    def run(self, every_s: float = 0.5) -> int:
        """Supervise until SIGTERM/SIGINT (exit 0) or a child keeps dying (exit 1)."""
        def _stop(signum: int, _frame: object) -> None:
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.start()
        try:
            while self.poll():
                time.sleep(every_s)
            return 1
        finally:
            if not self.stopping:
                self.stop()
