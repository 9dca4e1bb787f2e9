"""Files the product writes are private: this user only (files 0600, folders 0700).

The instance folder holds keys, the SQLite database, uploads, kept recordings, report PDFs
and the embedded broker's messages; ``make_private`` sets the process umask so everything
created from then on (by us or by a library: SQLite, Celery, the sandbox's CA) is private,
and tightens what an older version left readable.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_UMASK = 0o077


def make_private(instance_path: Path | None = None, database_url: str = "") -> None:
    """Private umask for this process; the instance folder 0700 and a SQLite file 0600."""
    os.umask(PRIVATE_UMASK)
    if instance_path is not None:
        instance_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(PermissionError):  # a folder we do not own stays as it is
            instance_path.chmod(0o700)
    if database_url.startswith("sqlite:///"):
        db_file = Path(database_url.removeprefix("sqlite:///"))
        for path in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")):
            if path.is_file():
                with contextlib.suppress(PermissionError):
                    path.chmod(0o600)
