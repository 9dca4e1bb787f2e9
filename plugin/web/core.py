"""Health probes, the session check, and the demo sign-in (demo mode only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, render_template, request
from sqlalchemy import text

from plugin.db import db
from plugin.security import Identity
from plugin.tenancy import DEMO_REP, DEMO_TENANT, ensure_tenant, ensure_user
from plugin.web.auth import current_identity, entry_url, require_identity
from plugin.web.errors import ApiError

bp = Blueprint("core", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness: the process answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    """Readiness: the database answers and the process is not draining."""
    from plugin.web.drain import draining

    if draining():
        return jsonify(status="draining"), 503
    try:
        with db.session_scope() as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return jsonify(status="unavailable", reason=str(exc)[:200]), 503
    return jsonify(status="ok")


@bp.get("/api/v1/me")
@require_identity
def me() -> Any:
    return jsonify(current_identity().to_dict())


def demo_identity() -> Identity:
    """The seeded demo rep (created on first use)."""
    with db.session_scope() as s:
        ensure_tenant(s, DEMO_TENANT, "demo", "Demo Org")
        user = ensure_user(s, DEMO_TENANT, DEMO_REP, "Dana Demo", "dana@example.com", role="admin")
        return Identity(tenant_id=DEMO_TENANT, user_id=user.id, crm_user_id=DEMO_REP,
                        name=user.name, role=user.role)


@bp.get("/")
def index() -> Any:
    """Landing page: where a newcomer starts in demo mode."""
    if current_app.config["SETTINGS"].demo:
        return render_template("landing.html")
    return jsonify(service="salescoach", health="/healthz")


@bp.get("/demo")
def demo_login() -> Any:
    """Open the coach panel as the demo rep (only with SALESCOACH_DEMO=true)."""
    if not current_app.config["SETTINGS"].demo:
        raise ApiError(404, "not_found", "demo mode is off")
    tab = request.args.get("next")
    tab = tab if tab in ("practice", "calls", "live") else "live"
    return redirect(entry_url(f"/panel/{tab}", demo_identity(), absolute=False))
