"""The ``salescoach`` command line. Areas contribute subcommands through ``SUBCOMMANDS``."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from plugin.settings import SettingsError, load_settings

# name -> "module:attribute" of a click command, loaded only when used (fast --help).
SUBCOMMANDS: dict[str, str] = {
    "db": "plugin.cli:db_group",
    "seed": "plugin.cli:seed_cmd",
    "serve": "plugin.cli:serve_cmd",
    "run": "plugin.cli:run_cmd",
    "worker": "workers.cli:worker_cmd",
    "beat": "workers.cli:beat_cmd",
    "drain": "plugin.web.drain:drain_cmd",
    "health": "plugin.health:health_cmd",
    "analyze": "workers.cli:analyze_cmd",
    "replay": "plugin.live.cli:replay_cmd",
    "sandbox": "plugin.sandbox.cli:sandbox_group",
    "practice": "plugin.practice.cli:practice_cmd",
    "manifests": "plugin.manifests:manifests_cmd",
    "transcribe": "plugin.speech.cli:transcribe_cmd",
    "coach": "plugin.coach.cli:coach_group",
    "privacy": "plugin.privacy.cli:privacy_group",
    "tenant": "plugin.cli:tenant_group",
    "keys": "plugin.keys:keys_group",
}


class LazyGroup(click.Group):
    """Loads each subcommand's module on first use so ``salescoach --help`` stays instant."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = SUBCOMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, attr = spec.split(":")
        cmd = getattr(importlib.import_module(module), attr)
        if not isinstance(cmd, click.Command):
            raise click.ClickException(f"{spec} is not a click command")
        return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="salescoach")
def main() -> None:
    """Sales Coach: live call coaching, practice with a simulated buyer, post-call reports.

    Settings come from SALESCOACH_* environment variables and instance/salescoach.env;
    with none set everything runs locally (SQLite, local speech and text engines, the
    bundled CRM sandbox).
    """
    from plugin.files import make_private

    make_private()  # keys, database, uploads and reports this process writes are 0600


def settings_or_exit(**overrides: Any) -> Any:
    try:
        return load_settings(overrides or None)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("db")
def db_group() -> None:
    """Database migrations (Alembic)."""


@db_group.command("upgrade")
@click.option("--revision", default="heads", show_default=True, help="target revision")
def db_upgrade(revision: str) -> None:
    """Migrate the configured database up to REVISION."""
    from plugin import migrate

    settings = settings_or_exit()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url, revision)
    click.echo(f"database at {_safe_url(settings.database_url)} is at {revision}")


@db_group.command("downgrade")
@click.option("--revision", default="base", show_default=True, help="target revision")
@click.confirmation_option(prompt="Downgrading drops tables and their data. Continue?")
def db_downgrade(revision: str) -> None:
    """Migrate the configured database down to REVISION (drops data)."""
    from plugin import migrate

    migrate.downgrade(settings_or_exit().database_url, revision)
    click.echo(f"downgraded to {revision}")


@click.command("seed")
def seed_cmd() -> None:
    """Create the demo tenant, its rep and its default playbook (idempotent)."""
    from plugin.seed import seed_demo

    settings = settings_or_exit()
    click.echo(seed_demo(settings))


# After SIGTERM, requests in flight get this long. Live calls are drained before that by
# `salescoach drain` (the pod's preStop, up to SALESCOACH_DRAIN_TIMEOUT_S); the pod's
# terminationGracePeriodSeconds covers both (manifests/k8s/web-deployment.yaml).
GRACEFUL_S = 15


@click.command("serve")
@click.option("--host", default=None, help="bind address [default: SALESCOACH_HOST]")
@click.option("--port", type=int, default=None, help="port [default: SALESCOACH_PORT]")
@click.option("--threads", type=int, default=256, show_default=True,
              help="request threads for HTTP requests and WebSocket handshakes; open live "
                   "sockets hold none (the I/O loop serves them)")
def serve_cmd(host: str | None, port: int | None, threads: int) -> None:
    """Serve the web app and its WebSockets with gunicorn (one process, many threads)."""
    settings = settings_or_exit()
    bind = f"{host or settings.host}:{port or settings.port}"
    # One process: a live call's state and its WebSocket live in the same process.
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--worker-class", "gthread",
                               "--workers", "1", "--threads", str(threads), "--bind", bind,
                               "--timeout", "120", "--graceful-timeout", str(GRACEFUL_S),
                               "--logger-class", "plugin.logs.GunicornLogger",
                               "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
                               "plugin.wsgi:app"])


# gunicorn's default access line has the full request line and the Referer, i.e. the query
# string: session tokens (?t=), report links (?s=), entry and OAuth codes. Log the path only
# (plugin.logs also redacts what a line may still carry).
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"'


@click.group("tenant")
def tenant_group() -> None:
    """Tenant roles: claim the admin role as the installer, appoint managers and teams."""


def _tenant_session() -> Any:
    from plugin.db import db

    db.configure(settings_or_exit().database_url)
    return db.session_scope()


@tenant_group.command("claim-admin")
@click.option("--tenant", "tenant_id", required=True, help="sf:<org id> or hs:<portal id>")
@click.option("--user", "crm_user_id", required=True, help="the installer's CRM user id")
def claim_admin_cmd(tenant_id: str, crm_user_id: str) -> None:
    """Make the installer (a CRM user) admin of their org; nobody is admin by being first."""
    from plugin.admin_claim import claim_admin

    try:
        with _tenant_session() as s:
            user = claim_admin(s, tenant_id, crm_user_id)
            click.echo(f"{user.crm_user_id} is now an admin of {user.tenant_id}")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@tenant_group.command("claim-code")
def claim_code_cmd() -> None:
    """Print a one-time code (24 h): /admin/connect/<crm>?claim=<code> makes whoever the CRM
    signs in the admin of that org."""
    from plugin.admin_claim import new_claim_code

    with _tenant_session() as s:
        code = new_claim_code(s)
    base = settings_or_exit().public_base_url
    click.echo(f"claim code (shown once, valid 24 h): {code}")
    click.echo(f"install link: {base}/admin/connect/salesforce?claim={code} "
               f"(or /admin/connect/hubspot?claim=…)")


@tenant_group.command("set-role")
@click.option("--tenant", "tenant_id", required=True)
@click.option("--user", "crm_user_id", required=True)
@click.option("--role", type=click.Choice(["rep", "manager", "admin"]), required=True)
@click.option("--team", default=None, help="team name (created if new); '' removes the team")
def set_role_cmd(tenant_id: str, crm_user_id: str, role: str, team: str | None) -> None:
    """Appoint a rep, a manager (who sees their team's calls) or an admin."""
    from plugin.admin_claim import set_role

    try:
        with _tenant_session() as s:
            user = set_role(s, tenant_id, crm_user_id, role, team)
            click.echo(f"{user.crm_user_id} of {user.tenant_id}: {user.role}"
                       + (f", team {team}" if team else ""))
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


# Background processes `salescoach run` starts beside the web server, if their area exists:
# (label, subcommand argv, module that must be importable).
RUN_SIDECARS: list[tuple[str, list[str], str]] = [
    ("crm sandbox", ["sandbox", "serve"], "plugin.sandbox"),
    ("worker", ["worker", "--no-beat"], "workers.celery_app"),
    ("beat", ["beat"], "workers.celery_app"),
]


def run_children(settings: Any) -> list[tuple[str, list[str]]]:
    """What `salescoach run` supervises: the sidecars whose area exists, then the web."""
    exe = [sys.executable, "-m", "plugin.cli"]
    sandbox_allowed = settings.env != "production" and settings.demo  # never in production
    children = [(label, exe + argv) for label, argv, module in RUN_SIDECARS
                if (label != "crm sandbox" or sandbox_allowed)
                and importlib.util.find_spec(module.split(".")[0]) and _importable(module)]
    return [*children, ("web", exe + ["serve"])]


@click.command("run")
def run_cmd() -> None:
    """Migrate, seed the demo and serve everything: web, worker, beat and CRM sandbox.

    Each runs as a supervised child in its own process group: one that dies is restarted
    (backoff 1 s, 2 s … 30 s); one that dies more than 5 times in 5 minutes stops them all.
    Every child dies with this process, even when it is killed with -9 (Linux).
    """
    from plugin.procs import Supervisor

    settings = settings_or_exit()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    from plugin import migrate
    from plugin.seed import seed_demo

    migrate.upgrade(settings.database_url)
    click.echo(seed_demo(settings))
    children = run_children(settings)
    if not any(label == "crm sandbox" for label, _ in children):
        click.echo("not starting the crm sandbox (demo off or production)")
    for label, argv in children:
        click.echo(f"starting {label}: salescoach {' '.join(argv[3:])}")
    supervisor = Supervisor(children, echo=lambda m: click.echo(m, err=True))
    click.secho(f"\nSales Coach is up: {settings.public_base_url}/demo  (Ctrl-C stops)\n",
                bold=True)
    raise SystemExit(supervisor.run())


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _safe_url(url: str) -> str:
    """URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":
    main()
