"""Database engine and sessions (SQLAlchemy 2), shared by the web app, workers and CLI.

The coaching core never imports this; adapters around it do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Database:
    """One engine + session factory per process; ``init_app`` binds it to Flask."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None

    def configure(self, url: str, **engine_kwargs: Any) -> Database:
        """Create the engine for ``url`` (idempotent for the same URL)."""
        if self.engine is not None and str(self.engine.url) == url:
            return self
        if url.startswith("sqlite"):
            engine_kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        else:
            engine_kwargs.setdefault("pool_pre_ping", True)
        self.engine = create_engine(url, **engine_kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        return self

    def init_app(self, app: Any) -> None:
        self.configure(app.config["SETTINGS"].database_url)
        app.extensions["salescoach.db"] = self

        @app.teardown_appcontext
        def _close(_exc: BaseException | None) -> None:
            from flask import g

            session = g.pop("db_session", None)
            if session is not None:
                session.close()

    def session(self) -> Session:
        if self._factory is None:
            raise RuntimeError("database is not configured: call Database.configure(url) first")
        return self._factory()

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
        self.engine = None
        self._factory = None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


db = Database()


def request_session() -> Session:
    """The session of the current Flask request (closed at teardown)."""
    from flask import g

    if "db_session" not in g:
        g.db_session = db.session()
    return g.db_session
