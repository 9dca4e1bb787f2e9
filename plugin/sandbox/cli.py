"""``salescoach sandbox``: serve, reset and seed the local CRM sandbox."""

from __future__ import annotations

import signal

import click

from plugin.cli import settings_or_exit


@click.group("sandbox")
def sandbox_group() -> None:
    """Local CRM sandbox speaking the Salesforce REST and HubSpot CRM v3 APIs over HTTPS.

    State lives in <instance>/sandbox/ (SQLite data, local CA, OAuth app credentials).
    """


@sandbox_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="bind address")
@click.option("--port", type=int, default=None,
              help="port [default: SALESCOACH_SANDBOX_PORT, 8443; 0 picks a free port]")
@click.option("--quiet", is_flag=True, help="no access log")
def serve(host: str, port: int | None, quiet: bool) -> None:
    """Serve the sandbox over HTTPS until Ctrl-C."""
    from plugin.sandbox.config import sandbox_credentials
    from plugin.sandbox.server import build_server

    settings = settings_or_exit()
    if settings.env == "production":
        raise click.ClickException("the CRM sandbox never runs with SALESCOACH_ENV=production")
    chosen = settings.sandbox_port if port is None else port
    try:
        handle = build_server(settings.instance_path, host, chosen, quiet=quiet,
                              admin_token=settings.sandbox_admin_token)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{chosen}: {exc.strerror or exc}; pick another port with "
            "--port or SALESCOACH_SANDBOX_PORT") from None
    creds = sandbox_credentials(settings)
    click.echo(f"CRM sandbox on {handle.base_url}")
    click.echo(f"  CA certificate : {handle.ca_path}")
    click.echo(f"  Salesforce org : {creds.sf_org_id}  (login/instance URL {handle.base_url})")
    click.echo(f"  HubSpot portal : {creds.hs_portal_id}  (API host {handle.base_url})")
    click.echo("  admin          : /_sandbox/faults, /_sandbox/activities… with "
               f"Authorization: Bearer <{handle.paths.admin_token}>")
    def on_term(*_: object) -> None:
        raise KeyboardInterrupt  # `salescoach run` stops its sidecars with SIGTERM

    signal.signal(signal.SIGTERM, on_term)
    try:
        handle.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
        click.echo("CRM sandbox stopped")


@sandbox_group.command("reset")
@click.confirmation_option(prompt="Replace all sandbox records with the demo data?")
def reset() -> None:
    """Restore the demo data (removes written activities); OAuth tokens keep working.

    A running server sees the change at once (it shares the SQLite file); use
    POST /_sandbox/reset to also clear its fault knobs.
    """
    from plugin.sandbox.app import open_state
    from plugin.sandbox.seed_data import describe_counts, seed

    st = open_state(settings_or_exit().instance_path)
    seed(st.store, st.ident)
    click.echo("sandbox reset: " + ", ".join(f"{k} {v}" for k, v in
                                              describe_counts(st.store).items()))


@sandbox_group.command("seed")
def seed_cmd() -> None:
    """Create the sandbox (CA, identity, demo data) if missing and print its credentials."""
    from plugin.sandbox.app import open_state
    from plugin.sandbox.config import sandbox_credentials
    from plugin.sandbox.seed_data import directory

    settings = settings_or_exit()
    st = open_state(settings.instance_path)
    creds = sandbox_credentials(settings)
    click.echo(f"base URL {creds.base_url}; CA {creds.ca_path}")
    click.echo(f"Salesforce org {creds.sf_org_id}, client id {creds.sf_client_id}")
    click.echo(f"HubSpot portal {creds.hs_portal_id}, client id {creds.hs_client_id}")
    for person in directory(st.ident["sf_org_id"]):
        click.echo(f"  {person['name']:<18} {person['title']:<26} {person['company']:<22} "
                   f"SF {person['sf_type']} {person['sf_id']}  HS contact {person['hs_id']}")
