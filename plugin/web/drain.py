"""Graceful drain of a web process: stop taking calls, let live ones finish, hand over the rest.

Kubernetes runs ``salescoach drain`` as the web pod's preStop hook, before SIGTERM:

1. ``POST /internal/drain`` turns the process's call registry to draining: ``/readyz`` answers
   503 (the pod leaves the Service), new calls are refused with close code 1012 so the
   panel reconnects and lands on another pod;
2. the command waits while live calls end by themselves, up to ``SALESCOACH_DRAIN_TIMEOUT_S``;
3. then ``POST /internal/drain?hand_over=1`` closes the remaining calls' sockets with 1012:
   each panel reconnects and resumes its call on another pod (rebuilt from the store; the
   call is not ended here), and gunicorn's shorter graceful timeout finishes the rest.

The endpoint takes a token derived from the secret key (the command runs in the same pod,
with the same settings), so nobody outside can drain a pod.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any

import click
from flask import Blueprint, current_app, jsonify, request

bp = Blueprint("drain", __name__)


def drain_token(secret_key: str) -> str:
    return hmac.new(secret_key.encode(), b"salescoach-drain", hashlib.sha256).hexdigest()


def _registry() -> Any:
    return current_app.extensions.get("salescoach.live")


def draining() -> bool:
    reg = _registry()
    return bool(reg is not None and reg.draining)


@bp.route("/internal/drain", methods=["GET", "POST"])
def drain_view() -> Any:
    """POST: start draining (``?hand_over=1``: also close the live calls' sockets);
    GET: the state. Both need ``X-Drain-Token``."""
    given = request.headers.get("X-Drain-Token", "")
    if not hmac.compare_digest(given, drain_token(current_app.config["SECRET_KEY"])):
        return jsonify(error={"code": "not_found", "message": "not found"}), 404
    reg = _registry()
    if reg is None:
        return jsonify(draining=True, live_calls=0, handed_over=0)
    handed = 0
    if request.method == "POST":
        reg.drain()
        if request.args.get("hand_over") in ("1", "true"):
            handed = reg.hand_over()
    return jsonify(draining=reg.draining, live_calls=reg.live_count(), handed_over=handed)


def _call(url: str, token: str, method: str) -> dict[str, Any]:
    req = urllib.request.Request(url, method=method, headers={"X-Drain-Token": token},
                                 data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - our own loopback URL
        return dict(json.loads(resp.read()))


@click.command("drain")
@click.option("--url", default="", help="the web process [default: http://127.0.0.1:PORT]")
@click.option("--timeout", type=float, default=None,
              help="seconds to wait for live calls [default: SALESCOACH_DRAIN_TIMEOUT_S]")
def drain_cmd(url: str, timeout: float | None) -> None:
    """Drain the local web process (Kubernetes preStop): refuse new calls, wait for the live
    ones to end, then hand the rest over to other pods. Exits 0 whatever happens, so a pod
    that cannot be reached still shuts down."""
    from plugin.cli import settings_or_exit
    from plugin.security import secret_key

    settings = settings_or_exit()
    base = (url or f"http://127.0.0.1:{settings.port}").rstrip("/") + "/internal/drain"
    token = drain_token(secret_key(settings))
    limit = settings.drain_timeout_s if timeout is None else timeout
    try:
        state = _call(base, token, "POST")
        click.echo(f"draining: {state['live_calls']} live call(s)")
        deadline = time.monotonic() + limit
        while state["live_calls"] and time.monotonic() < deadline:
            time.sleep(1.0)
            state = _call(base, token, "GET")
        if state["live_calls"]:
            state = _call(base + "?hand_over=1", token, "POST")
            click.echo(f"handed over {state['handed_over']} live call(s) to other pods")
        else:
            click.echo("no live calls left")
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        click.echo(f"drain: the web process did not answer ({exc}); shutting down anyway",
                   err=True)
