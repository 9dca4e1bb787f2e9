"""Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

from plugin.db import db
from plugin.files import make_private
from plugin.security import SecretBox, SessionSigner, encryption_key, secret_key
from plugin.settings import Settings, load_settings


def create_app(overrides: dict[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    """Build the app from settings (defaults < instance env file < environment < overrides)."""
    settings = settings or load_settings(overrides)
    make_private(settings.instance_path, settings.database_url)
    app = Flask(__name__, instance_path=str(settings.instance_path),
                template_folder="web/templates", static_folder="web/static")
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=secret_key(settings),
        MAX_CONTENT_LENGTH=settings.max_upload_mb * 1024 * 1024,
        JSON_SORT_KEYS=False,
        TESTING=settings.env == "test",
    )
    from plugin import logs

    logs.configure(settings)

    db.init_app(app)
    app.extensions["salescoach.signer"] = SessionSigner(app.config["SECRET_KEY"],
                                                        settings.session_ttl_s)
    app.extensions["salescoach.secrets"] = SecretBox(encryption_key(settings))

    from plugin.web import init_app as init_web

    init_web(app)
    return app


def settings_of(app: Flask) -> Settings:
    return app.config["SETTINGS"]
