"""Web layer: blueprints around the domain code. Each area registers its blueprint here."""

from __future__ import annotations

import importlib

from flask import Flask

from plugin.web import errors, headers, inputs

# "module:attribute" of every blueprint; one line per area.
BLUEPRINTS: list[str] = [
    "plugin.web.core:bp",
    "plugin.web.panel:bp",
    "plugin.web.recordings_api:bp",
    "plugin.web.reports_pages:bp",
    "plugin.web.canvas:bp",
    "plugin.web.hubspot_card:bp",
    "plugin.web.crm_oauth:bp",
    "plugin.web.admin:bp",
    "plugin.web.privacy_api:bp",
    "plugin.web.demo_crm:bp",
    "plugin.web.live_pages:bp",
    "plugin.web.practice_api:bp",
    "plugin.web.practice_pages:bp",
    "plugin.web.customer_api:bp",
    "plugin.web.popout:bp",
    "plugin.web.drain:bp",
    "plugin.web.openapi:bp",
]


# Modules with an ``init_app(app)`` to call after the blueprints; one line per area.
INIT_HOOKS: list[str] = [
    "plugin.logs",
    "plugin.metrics",
    "workers.celery_app",
    "plugin.web.live_ws",
    "plugin.web.ratelimit",
]


def init_app(app: Flask) -> None:
    errors.init_app(app)
    inputs.init_app(app)  # before the blueprints: it replaces the int converter
    headers.init_app(app)
    for spec in BLUEPRINTS:
        module, attr = spec.split(":")
        app.register_blueprint(getattr(importlib.import_module(module), attr))
    # Areas that need more than a blueprint (WebSockets, sandbox hooks) expose init_app.
    for module in INIT_HOOKS:
        importlib.import_module(module).init_app(app)

