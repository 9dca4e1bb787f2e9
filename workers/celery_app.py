"""The Celery app, built Flask-style: ``celery_init_app(app)`` binds it to a Flask app.

Every task runs inside the Flask app context (``FlaskTask``), so tasks share the web app's
settings and database. ``celery -A workers.celery_app worker`` finds the module-level
``celery`` attribute, which builds the Flask app from the settings on first access.

Broker: ``SALESCOACH_BROKER_URL`` (Redis or RabbitMQ in production); by default the embedded
``filesystem://`` broker with its folders under ``<instance>/broker/`` (no server needed).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from celery import Celery, Task
from flask import Flask
from kombu import Queue

from plugin.pipeline.sweep import SWEEP_EVERY_S
from plugin.settings import Settings

QUEUES = ("transcription", "analysis", "crm", "live")
RETENTION_EVERY_S = 3600.0
TASK_MODULES = ["workers.tasks", "workers.live_tasks", "workers.privacy_tasks"]

_celery: Celery | None = None


def broker_folders(settings: Settings) -> dict[str, Path]:
    """Folders of the embedded filesystem broker (created on demand)."""
    root = settings.instance_path / "broker"
    folders = {name: root / name for name in ("queue", "processed", "control")}
    for path in folders.values():
        path.mkdir(parents=True, exist_ok=True)
    return folders


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings derived from ours: reliability first (late acks, no prefetch hoarding)."""
    conf: dict[str, Any] = {
        # kombu warns about a URL without a host; the filesystem transport ignores it.
        "broker_url": "filesystem://localhost//" if settings.broker_url == "filesystem://"
        else settings.broker_url,
        "result_backend": settings.result_backend or None,
        "task_ignore_result": not settings.result_backend,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": 600,
        "task_time_limit": 660,
        "task_default_queue": "analysis",
        "task_queues": [Queue(q, routing_key=q) for q in QUEUES],
        "task_routes": {
            "salescoach.transcribe_recording": {"queue": "transcription"},
            "salescoach.analyse_call": {"queue": "analysis"},
            "salescoach.sweep": {"queue": "analysis"},
            "salescoach.privacy.retention": {"queue": "analysis"},
            "salescoach.deliver_outbox": {"queue": "crm"},
            "salescoach.live.*": {"queue": "live"},
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "broker_connection_retry_on_startup": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # The sweep re-enqueues work whose worker died (lapsed lease) or whose message was
        # lost (a filesystem broker forgets messages a killed worker held; Redis restores
        # them only after its visibility timeout): see plugin/pipeline/sweep.py.
        # Retention (plugin.privacy.retention) hourly: idempotent, so a missed or doubled
        # run only moves deletions by an hour.
        # Beat writes its schedule file after every task it sends: the file's age is its
        # health check (salescoach health beat).
        "beat_sync_every": 1,
        "beat_schedule": {
            "salescoach-sweep": {"task": "salescoach.sweep", "schedule": SWEEP_EVERY_S,
                                 "options": {"expires": SWEEP_EVERY_S * 2}},
            "salescoach-retention": {"task": "salescoach.privacy.retention",
                                     "schedule": RETENTION_EVERY_S},
        },
    }
    if settings.uses_embedded_broker:
        folders = broker_folders(settings)
        conf["broker_transport_options"] = {
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "control_folder": str(folders["control"]),
            "processed_folder": str(folders["processed"]),
            "polling_interval": 0.2,
        }
        conf["beat_schedule_filename"] = str(settings.instance_path / "broker" / "beat-schedule")
    elif settings.broker_url.startswith("redis"):
        conf["broker_transport_options"] = {"visibility_timeout": 3600}
    return conf


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for ``app`` (Flask's pattern) and store it in ``app.extensions``."""

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    settings: Settings = app.config["SETTINGS"]
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(settings))
    include = [m for m in TASK_MODULES if importlib.util.find_spec(m) is not None]
    celery_app.conf.include = include
    for module in include:
        importlib.import_module(module)
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def init_app(app: Flask) -> None:
    """INIT_HOOKS entry: the web process gets a Celery app to enqueue work."""
    celery_init_app(app)


def get_celery() -> Celery:
    """The process's Celery app: the current Flask app's, else one built from the settings."""
    from flask import current_app, has_app_context

    if has_app_context() and "celery" in current_app.extensions:
        return current_app.extensions["celery"]
    global _celery
    if _celery is None:
        from plugin.app import create_app

        flask_app = create_app()
        _celery = flask_app.extensions.get("celery") or celery_init_app(flask_app)
    return _celery


def __getattr__(name: str) -> Any:
    """``celery``/``app`` built lazily, so importing this module has no side effects."""
    if name in ("celery", "app"):
        return get_celery()
    raise AttributeError(name)
