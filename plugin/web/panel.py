"""The coach panel shell: one page per tab (live, practice, calls), all behind the session."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request

from plugin.web.auth import authenticate

bp = Blueprint("panel", __name__, url_prefix="/panel")

# (path, label) of the panel's tabs; each area serves its page at that path from its own
# blueprint and renders it with ``render_panel``.
TABS: list[tuple[str, str]] = [
    ("/panel/live", "Live call"),
    ("/panel/practice", "Practice"),
    ("/panel/calls", "Calls & reports"),
]


def render_panel(template: str, **context: Any) -> str:
    """Render a panel page for the authenticated user (401 page if the token is bad)."""
    identity = authenticate()
    return render_template(template, identity=identity, tabs=TABS, token=request.args.get("t", ""),
                           **context)


@bp.get("/")
def index() -> Any:
    authenticate()
    return redirect("/panel/live?" + request.query_string.decode())
