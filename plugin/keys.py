"""``salescoach keys rotate``: a new Fernet key, and every secret at rest re-encrypted with it.

Secrets at rest are the model columns named ``*_enc`` (CRM access and refresh tokens today),
all written through ``plugin.security.SecretBox``. Decryption tries every configured key
(newest first), so processes that already have the new key list read both old and new
ciphertexts; a key can be dropped once ``rotate`` has re-encrypted everything without it.
"""

from __future__ import annotations

from typing import Any

import click
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from plugin.security import (
    SecretBox,
    encryption_key,
    encryption_key_file,
    split_keys,
    write_private,
)
from plugin.settings import Settings


def secret_columns() -> list[tuple[Any, list[Any]]]:
    """(table, its ``*_enc`` columns) for every table that stores encrypted secrets."""
    import plugin.models  # noqa: F401 - registers every table on the metadata
    from plugin.models._base import Base

    found = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if c.name.endswith("_enc")]
        if columns:
            found.append((table, columns))
    return found


def reencrypt_all(box: SecretBox) -> dict[str, int]:
    """Re-encrypt every stored secret with ``box``'s newest key, in one transaction.
    Answers the number of values per ``table.column``; a value no key opens stops it all."""
    from plugin.db import db

    counts: dict[str, int] = {}
    with db.session_scope() as s:
        for table, columns in secret_columns():
            pk = list(table.primary_key.columns)
            for row in s.execute(select(*pk, *columns)).all():
                values = {}
                for col in columns:
                    token = row._mapping[col]
                    if token:
                        values[col.name] = box.rotate(token)
                        counts[f"{table.name}.{col.name}"] = counts.get(
                            f"{table.name}.{col.name}", 0) + 1
                if values:
                    where = [c == row._mapping[c] for c in pk]
                    s.execute(update(table).where(*where).values(**values))
    return counts


def rotate(settings: Settings, new_key: bool = True) -> tuple[list[str], dict[str, int], bool]:
    """(the key list to use from now on, values re-encrypted, whether the instance key file
    was updated). ``new_key=False`` re-encrypts with the first configured key instead."""
    keys = split_keys(encryption_key(settings))
    if new_key:
        keys = [Fernet.generate_key().decode(), *keys]
    counts = reencrypt_all(SecretBox(keys))
    in_file = not settings.encryption_key
    if in_file:
        write_private(encryption_key_file(settings), ",".join(keys) + "\n")
    return keys, counts, in_file


@click.group("keys")
def keys_group() -> None:
    """Encryption keys of secrets at rest (CRM tokens)."""


@keys_group.command("rotate")
@click.option("--new/--no-new", "new_key", default=True, show_default=True,
              help="generate a new key (--no-new: re-encrypt with the first configured key, "
                   "after you deployed a new key list yourself)")
def rotate_cmd(new_key: bool) -> None:
    """Re-encrypt every stored secret with a new key and print the key list to set."""
    from plugin.app import create_app
    from plugin.cli import settings_or_exit

    settings = settings_or_exit()
    app = create_app(settings=settings)
    with app.app_context():
        try:
            keys, counts, in_file = rotate(settings, new_key)
        except ValueError as exc:
            raise click.ClickException(f"{exc}; nothing was changed") from None
    total = sum(counts.values())
    click.echo(f"re-encrypted {total} secret(s) with the newest key: "
               + (", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none stored"))
    if in_file:
        click.echo(f"updated {encryption_key_file(settings)} (newest first); restart the "
                   "web and worker processes")
    else:
        click.echo("set on every process (newest first), then restart them:")
        click.echo(f"SALESCOACH_ENCRYPTION_KEY={','.join(keys)}")
    if len(keys) > 1:
        click.echo("every stored secret now opens with the first key alone; keep the older "
                   "keys only until every process runs with this list")
