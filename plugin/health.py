"""``salescoach health [web|worker|beat|auto]``: the container health check of each process.

- web: ``GET /healthz`` on the local port answers 200;
- worker: the worker node answers a Celery ``ping`` through the broker (its consumer loop
  is alive, not merely its process);
- beat: the scheduler wrote its schedule file recently (it syncs after every sweep it sends);
- auto (the image's HEALTHCHECK): whichever of those this container runs, read from PID 1's
  command line, so one image serves every role with a check that fits it.

Exit status 0 when healthy, 1 otherwise, with one line saying why.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import click

BEAT_STALE_S = 90.0  # several sweep periods without a sync: the scheduler is stuck


def role_of_pid1() -> str:
    """web | worker | beat from the container's main command line ('' when unknown)."""
    try:
        argv = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    words = [a.decode(errors="replace") for a in argv if a]
    for word in words:
        if word in ("worker", "beat"):
            return word
        if word in ("serve", "run"):
            return "web"
    return ""


def beat_schedule_path(settings: object) -> Path:
    import tempfile

    from workers.celery_app import celery_config

    conf = celery_config(settings)  # type: ignore[arg-type]
    return Path(conf.get("beat_schedule_filename")
                or Path(tempfile.gettempdir()) / "salescoach-beat-schedule")


def check_web(settings: object) -> str:
    port = getattr(settings, "port", 8000)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as resp:  # noqa: S310
        if resp.status != 200:
            raise RuntimeError(f"/healthz answered {resp.status}")
    return f"web answers on port {port}"


def check_worker(node: str) -> str:
    from workers.celery_app import get_celery

    answers = get_celery().control.ping(destination=[node], timeout=5.0)
    if not any(node in a for a in answers or []):
        raise RuntimeError(f"worker {node} did not answer a ping")
    return f"worker {node} answers"


def check_beat(settings: object) -> str:
    base = beat_schedule_path(settings)
    files = [p for p in base.parent.glob(base.name + "*") if p.is_file()]
    if not files:
        raise RuntimeError(f"no beat schedule at {base}")
    age = time.time() - max(p.stat().st_mtime for p in files)
    if age > BEAT_STALE_S:
        raise RuntimeError(f"beat schedule not written for {age:.0f} s")
    return f"beat wrote its schedule {age:.0f} s ago"


@click.command("health")
@click.argument("role", type=click.Choice(["auto", "web", "worker", "beat"]), default="auto")
@click.option("-n", "--hostname", default="",
              help="worker node name [default: salescoach@<host name>]")
def health_cmd(role: str, hostname: str) -> None:
    """Check this container's process (for Docker/Compose HEALTHCHECK and probes)."""
    from plugin.cli import settings_or_exit

    settings = settings_or_exit()
    if role == "auto":
        role = role_of_pid1() or "web"
    try:
        if role == "web":
            message = check_web(settings)
        elif role == "worker":
            message = check_worker(hostname or f"salescoach@{socket.gethostname()}")
        else:
            message = check_beat(settings)
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", said in one line
        raise click.ClickException(f"{role} unhealthy: {exc}") from None
    click.echo(message)
