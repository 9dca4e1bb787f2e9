"""The practice tab of the coach panel (``/panel/practice``)."""

from __future__ import annotations

import importlib.util
from typing import Any

from flask import Blueprint

from plugin.web.panel import render_panel

bp = Blueprint("practice_pages", __name__)


def voice_available() -> bool:
    """Spoken replies need the speech package (local Whisper or AssemblyAI)."""
    return importlib.util.find_spec("plugin.speech") is not None


@bp.get("/panel/practice")
def practice_page() -> Any:
    return render_panel("practice.html", voice=voice_available())


@bp.get("/admin/practice")
def practice_admin_page() -> Any:
    """Managers: author scenarios, assign them, follow the team (admin role)."""
    from flask import render_template

    from plugin.web.auth import token_from_request
    from plugin.web.crm_oauth import admin_identity
    from plugin.web.errors import ApiError

    try:
        identity = admin_identity()
    except ApiError as exc:
        return render_template("admin_error.html", reason=exc.message, code=exc.code), exc.status
    return render_template("practice_admin.html", identity=identity, token=token_from_request())
