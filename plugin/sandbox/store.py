"""SQLite storage of the sandbox: records of both CRMs, associations, OAuth codes and tokens.

Records are JSON documents keyed by object name (Salesforce ``Contact``, HubSpot ``contacts``)
and id; the data set is small, so filtering happens in Python. One lock serialises writes.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    obj TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, seeded INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (obj, id));
CREATE TABLE IF NOT EXISTS associations (
    from_obj TEXT NOT NULL, from_id TEXT NOT NULL, to_obj TEXT NOT NULL, to_id TEXT NOT NULL,
    type_id INTEGER NOT NULL, PRIMARY KEY (from_obj, from_id, to_obj, to_id, type_id));
CREATE TABLE IF NOT EXISTS oauth_codes (
    code TEXT PRIMARY KEY, vendor TEXT NOT NULL, client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL, expires_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens (
    access_token TEXT PRIMARY KEY, vendor TEXT NOT NULL, refresh_token TEXT NOT NULL,
    client_id TEXT NOT NULL, issued_at REAL NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    refresh_token TEXT PRIMARY KEY, vendor TEXT NOT NULL, client_id TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

SF_TOKEN_TTL_S = 2 * 3600
HS_TOKEN_TTL_S = 1800


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    """Thread-safe access to ``sandbox.db`` (a connection per operation, WAL mode)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock = threading.RLock()
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
        finally:
            conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                conn.close()

    # Records ---------------------------------------------------------------------------
    def get(self, obj: str, rid: str) -> dict[str, Any] | None:
        with self.tx() as c:
            row = c.execute("SELECT * FROM records WHERE obj=? AND id=?", (obj, rid)).fetchone()
        return _rec(row) if row else None

    def all(self, obj: str) -> list[dict[str, Any]]:
        with self.tx() as c:
            rows = c.execute("SELECT * FROM records WHERE obj=? ORDER BY created_at, id",
                             (obj,)).fetchall()
        return [_rec(r) for r in rows]

    def find(self, obj: str, field: str, value: str) -> dict[str, Any] | None:
        for rec in self.all(obj):
            if str(rec["data"].get(field, "")) == value and value != "":
                return rec
        return None

    def insert(self, obj: str, rid: str, data: dict[str, Any], *, seeded: bool = False,
               created_at: str | None = None, conn: sqlite3.Connection | None = None) -> None:
        stamp = created_at or now_iso()
        sql = ("INSERT INTO records (obj, id, data, seeded, created_at, updated_at) "
               "VALUES (?,?,?,?,?,?)")
        args = (obj, rid, json.dumps(data), int(seeded), stamp, stamp)
        if conn is not None:
            conn.execute(sql, args)
            return
        with self.tx() as c:
            c.execute(sql, args)

    def update(self, obj: str, rid: str, data: dict[str, Any]) -> None:
        with self.tx() as c:
            c.execute("UPDATE records SET data=?, updated_at=? WHERE obj=? AND id=?",
                      (json.dumps(data), now_iso(), obj, rid))

    def associate(self, from_obj: str, from_id: str, to_obj: str, to_id: str, type_id: int,
                  conn: sqlite3.Connection | None = None) -> None:
        sql = "INSERT OR IGNORE INTO associations VALUES (?,?,?,?,?)"
        if conn is not None:
            conn.execute(sql, (from_obj, from_id, to_obj, to_id, type_id))
            return
        with self.tx() as c:
            c.execute(sql, (from_obj, from_id, to_obj, to_id, type_id))

    def associated(self, from_obj: str, from_id: str, to_obj: str) -> list[tuple[str, int]]:
        """Ids (and type ids) of ``to_obj`` records linked to a record, in either direction."""
        with self.tx() as c:
            rows = c.execute(
                "SELECT to_id AS id, type_id FROM associations WHERE from_obj=? AND from_id=? "
                "AND to_obj=? UNION SELECT from_id AS id, type_id FROM associations "
                "WHERE to_obj=? AND to_id=? AND from_obj=?",
                (from_obj, from_id, to_obj, from_obj, from_id, to_obj)).fetchall()
        seen: dict[str, int] = {}
        for r in rows:
            seen.setdefault(r["id"], r["type_id"])
        return list(seen.items())

    def created_activities(self) -> list[dict[str, Any]]:
        """Activities written through the API (not seeded): Salesforce Tasks, HubSpot calls
        and notes, oldest first."""
        with self.tx() as c:
            rows = c.execute(
                "SELECT * FROM records WHERE seeded=0 AND obj IN ('Task','calls','notes') "
                "ORDER BY created_at, id").fetchall()
        return [_rec(r) for r in rows]

    def wipe_data(self) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM records")
            c.execute("DELETE FROM associations")

    def meta(self, key: str, default: str = "") -> str:
        with self.tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row["value"]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (key, value))

    # OAuth -----------------------------------------------------------------------------
    def new_code(self, vendor: str, client_id: str, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(24)
        with self.tx() as c:
            c.execute("INSERT INTO oauth_codes VALUES (?,?,?,?,?,0)",
                      (code, vendor, client_id, redirect_uri, time.time() + 600))
        return code

    def redeem_code(self, vendor: str, code: str, client_id: str, redirect_uri: str) -> str:
        """'' when valid (and now used); otherwise the reason it is not."""
        with self.tx() as c:
            row = c.execute("SELECT * FROM oauth_codes WHERE code=? AND vendor=?",
                            (code, vendor)).fetchone()
            if row is None:
                return "invalid authorization code"
            if row["used"]:
                return "authorization code already used"
            if row["expires_at"] < time.time():
                return "expired authorization code"
            if row["client_id"] != client_id:
                return "authorization code was issued to another client"
            if redirect_uri and row["redirect_uri"] != redirect_uri:
                return "redirect_uri mismatch"
            c.execute("UPDATE oauth_codes SET used=1 WHERE code=?", (code,))
        return ""

    def issue_tokens(self, vendor: str, client_id: str, refresh_token: str = "") -> dict[str, Any]:
        """A new access token (and a new refresh token unless one is being used)."""
        ttl = SF_TOKEN_TTL_S if vendor == "salesforce" else HS_TOKEN_TTL_S
        prefix = "00D!" if vendor == "salesforce" else "CJ"
        access = prefix + secrets.token_urlsafe(40)
        now = time.time()
        with self.tx() as c:
            if not refresh_token:
                refresh_token = ("5Aep" if vendor == "salesforce" else "na1-") + \
                    secrets.token_urlsafe(32)
                c.execute("INSERT INTO refresh_tokens VALUES (?,?,?,0)",
                          (refresh_token, vendor, client_id))
            c.execute("INSERT INTO tokens VALUES (?,?,?,?,?,?)",
                      (access, vendor, refresh_token, client_id, now, now + ttl))
        return {"access_token": access, "refresh_token": refresh_token, "issued_at": now,
                "expires_in": ttl}

    def refresh_client(self, vendor: str, refresh_token: str) -> str | None:
        with self.tx() as c:
            row = c.execute("SELECT * FROM refresh_tokens WHERE refresh_token=? AND vendor=? "
                            "AND revoked=0", (refresh_token, vendor)).fetchone()
        return str(row["client_id"]) if row else None

    def token(self, access_token: str) -> sqlite3.Row | None:
        with self.tx() as c:
            row: sqlite3.Row | None = c.execute(
                "SELECT * FROM tokens WHERE access_token=?", (access_token,)).fetchone()
        return row

    def expire_tokens(self, access_token: str = "") -> int:
        """Make access tokens (one, or all) expired now; refresh tokens keep working."""
        with self.tx() as c:
            if access_token:
                cur = c.execute("UPDATE tokens SET expires_at=? WHERE access_token=?",
                                (time.time() - 1, access_token))
            else:
                cur = c.execute("UPDATE tokens SET expires_at=?", (time.time() - 1,))
        return int(cur.rowcount)


def _rec(row: sqlite3.Row) -> dict[str, Any]:
    return {"obj": row["obj"], "id": row["id"], "data": json.loads(row["data"]),
            "seeded": bool(row["seeded"]), "created_at": row["created_at"],
            "updated_at": row["updated_at"]}
