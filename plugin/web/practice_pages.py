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
