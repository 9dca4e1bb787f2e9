"""Test plumbing shared by the areas: a real WSGI server on a free port, Debian Chromium,
and fresh migrated databases."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from plugin import migrate
from plugin.db import db

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium dials Google hosts this machine refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (free port, threaded) and yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def chromium(*extra_args: str, **context_options: Any) -> Iterator[Any]:
    """A Playwright browser context in Debian Chromium (``make test`` installs it)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian Chromium is required at {CHROMIUM} (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        context = browser.new_context(**context_options)
        try:
            yield context
        finally:
            context.close()
            browser.close()


def migrated_database(tmp_path_factory: pytest.TempPathFactory, label: str) -> Iterator[str]:
    """Yield the URL of a fresh migrated database, dropped afterwards.

    PostgreSQL when SALESCOACH_TEST_DATABASE_URL names a server (each call creates its own
    database there, so runs and modules never collide), SQLite in a temporary folder otherwise.
    """
    server = os.environ.get("SALESCOACH_TEST_DATABASE_URL", "")
    if server.startswith("postgresql"):
        name = f"salescoach_{label}_{uuid.uuid4().hex[:10]}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = server.rsplit("/", 1)[0] + "/" + name
        try:
            migrate.upgrade(url)
            yield url
        finally:
            db.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp(label + '-db') / 'test.db'}"
        migrate.upgrade(url)
        yield url
        db.dispose()
