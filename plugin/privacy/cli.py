"""``salescoach privacy``: export and delete a contact's, a rep's or a tenant's data, run
retention now, list receipts. The actor in receipts and the audit log is ``cli:<os user>``."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import click

from plugin.cli import settings_or_exit


def _setup() -> Any:
    from plugin.db import db

    settings = settings_or_exit()
    db.configure(settings.database_url)
    return settings


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _subject(tenant: str, contact: str | None, rep: str | None, everything: bool) -> Any:
    from plugin.privacy.selection import SelectionError, subject

    chosen = [k for k, v in (("contact", contact), ("rep", rep), ("tenant", everything)) if v]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --contact, --rep or --all")
    from plugin.db import db
    from plugin.models import Tenant

    with db.session_scope() as s:
        if s.get(Tenant, tenant) is None:
            raise click.ClickException(f"no tenant {tenant!r}")
    try:
        return subject(tenant, chosen[0], contact or rep or "")
    except SelectionError as exc:
        raise click.ClickException(str(exc)) from None


def _who_options(fn: Any) -> Any:
    fn = click.option("--all", "everything", is_flag=True, help="the whole tenant")(fn)
    fn = click.option("--rep", help="a rep's CRM user id")(fn)
    fn = click.option("--contact", help="a contact's CRM record id")(fn)
    return click.option("--tenant", required=True, help="tenant id, e.g. sf:00D… or demo")(fn)


@click.group("privacy")
def privacy_group() -> None:
    """Export or delete a person's data (GDPR/CCPA), retention, receipts (docs/privacy.md)."""


@privacy_group.command("export")
@_who_options
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="zip file to write")
def export_cmd(tenant: str, contact: str | None, rep: str | None, everything: bool,
               out_path: Path) -> None:
    """Write one zip (manifest.json, data/*.json, files/…) of the subject's data."""
    from plugin.privacy.export import export
    from plugin.privacy.selection import SelectionError

    settings = _setup()
    who = _subject(tenant, contact, rep, everything)
    tmp = out_path.with_name(out_path.name + ".part")
    try:
        with tmp.open("wb") as out:
            manifest = export(who, settings.instance_path, _actor(), out)
        tmp.chmod(0o600)
        tmp.replace(out_path)
    except SelectionError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        tmp.unlink(missing_ok=True)
    click.echo(json.dumps({"out": str(out_path), "receipt_id": manifest["receipt_id"],
                           "tables": manifest["tables"], "files": len(manifest["files"]),
                           "crm_activities": len(manifest["crm_activities"])}))


@privacy_group.command("delete")
@_who_options
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--delete-in-crm", is_flag=True,
              help="also delete the call activities written to the CRM (listed otherwise)")
def delete_cmd(tenant: str, contact: str | None, rep: str | None, everything: bool,
               yes: bool, delete_in_crm: bool) -> None:
    """Delete everything of the subject; prints the receipt (JSON)."""
    from plugin.privacy.erase import LiveCallsOpen, PipelineBusy, erase
    from plugin.privacy.selection import SelectionError

    settings = _setup()
    who = _subject(tenant, contact, rep, everything)
    if not yes:
        click.confirm(f"Delete all data of {who.label} in {tenant}? This cannot be undone",
                      abort=True)
    try:
        receipt = erase(who, settings.instance_path, _actor(), settings=settings,
                        delete_in_crm=delete_in_crm)
    except LiveCallsOpen as exc:
        raise click.ClickException(f"{exc}: {', '.join(exc.call_ids)}") from None
    except PipelineBusy as exc:
        raise click.ClickException(str(exc)) from None
    except SelectionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(receipt, indent=1))


@privacy_group.command("retention")
@click.option("--tenant", help="one tenant (default: all)")
def retention_cmd(tenant: str | None) -> None:
    """Apply the retention settings now (the beat job does it every hour)."""
    from plugin.privacy.retention import enforce, enforce_all

    settings = _setup()
    results = [enforce(tenant, settings.instance_path)] if tenant else enforce_all(
        settings.instance_path)
    for result in results:
        click.echo(json.dumps(result))


@privacy_group.command("receipts")
@click.option("--tenant", required=True)
@click.option("--id", "receipt_id", help="one receipt in full")
def receipts_cmd(tenant: str, receipt_id: str | None) -> None:
    """List a tenant's receipts (newest first), or show one."""
    from plugin.db import db
    from plugin.privacy.receipts import receipt, receipts

    _setup()
    with db.session_scope() as s:
        if receipt_id:
            found = receipt(s, tenant, receipt_id)
            if found is None:
                raise click.ClickException("receipt not found")
            click.echo(json.dumps(found, indent=1))
            return
        for r in receipts(s, tenant):
            click.echo(json.dumps(r))
