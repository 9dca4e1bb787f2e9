"""``salescoach replay``: stream a recording through the live pipeline, in process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from plugin.cli import settings_or_exit

SEVERITY_STYLE = {"info": "cyan", "warn": "yellow", "critical": "bold red"}


def _clock(ms: int | None) -> str:
    s = max(0, int(ms or 0)) // 1000
    return f"{s // 60:02d}:{s % 60:02d}"


@click.command("replay")
@click.argument("wav", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="playback speed: 1 = real time, 4 = four times faster, 0 = as fast as possible")
@click.option("--record", "record_id", default="", help="CRM record id the call is about")
@click.option("--record-type", default="Contact", show_default=True, help="CRM record type")
@click.option("--tenant", default="demo", show_default=True, help="tenant that owns the call")
@click.option("--json", "as_json", is_flag=True, help="print events as JSON lines instead")
@click.option("--no-post-call", is_flag=True, help="do not submit the call to the workers")
def replay_cmd(wav: Path, speed: float, record_id: str, record_type: str, tenant: str,
               as_json: bool, no_post_call: bool) -> None:
    """Replay a call recording through the live coaching pipeline.

    WAV is a recording in any common format (WAV in PCM, μ-law or A-law; MP3, M4A, OGG,
    WebM, FLAC; any rate): stereo = left rep, right customer; mono = one mixed channel whose
    speakers are told apart by voice. The call is transcribed,
    coached and stored exactly like a live call (source "replay") and submitted to the
    post-call pipeline; the transcript and nudges are printed at their call times and the
    summary at the end.

    Example: salescoach replay plugin/demo_calls/price_objection.wav --speed 4
    """
    if speed < 0:
        raise click.BadParameter("must be 0 (as fast as possible) or more", param_hint="--speed")
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from plugin import migrate
    from plugin.db import db
    from plugin.live.connection import dumps
    from plugin.live.registry import LiveFactory
    from plugin.live.sources import StartFrame, WavSource
    from plugin.models import Tenant
    from plugin.seed import seed_demo
    from plugin.tenancy import DEMO_REP, ensure_user

    settings = settings_or_exit()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    from plugin.providers.errors import ProviderInputError

    try:
        source = WavSource(wav)
    except ProviderInputError as exc:  # names the format it cannot read
        raise click.ClickException(exc.message) from None
    if source.duration_ms == 0:
        raise click.ClickException(f"{wav}: no audio")
    migrate.upgrade(settings.database_url)
    db.configure(settings.database_url)
    if tenant == "demo":
        seed_demo(settings)
    with db.session_scope() as s:
        if s.get(Tenant, tenant) is None:
            raise click.ClickException(f"unknown tenant {tenant!r}")
        user_id = ensure_user(s, tenant, DEMO_REP if tenant == "demo" else "replay").id

    console = Console(stderr=as_json)
    factory = LiveFactory(settings, post_call=not no_post_call)
    call = factory.new(tenant, user_id, StartFrame(
        channels=source.channels, record_id=record_id, record_type=record_type if record_id else "",
        source="replay", title=f"Replay of {wav.name}"))
    progress = Progress(TextColumn("[bold]replay[/]"), BarColumn(),
                        TextColumn("{task.fields[clock]}"), TimeRemainingColumn(),
                        console=console, disable=as_json, transient=True)

    def show(event: dict[str, Any]) -> None:
        kind = event.get("type")
        if as_json:
            if kind != "partial":
                click.echo(dumps(event))
            return
        if kind == "final":
            who = "[green]REP     [/]" if event["speaker"] == "rep" else "[blue]CUSTOMER[/]"
            progress.console.print(f"[dim]{_clock(event['start_ms'])}[/] {who} {event['text']}",
                                   highlight=False)
        elif kind == "nudge":
            style = SEVERITY_STYLE.get(str(event.get("severity")), "white")
            progress.console.print(f"[dim]{_clock(event.get('at_ms'))}[/] [{style}]▶ NUDGE "
                                   f"({event.get('category')}, {event.get('severity')}): "
                                   f"{event.get('text')}[/]", highlight=False)
        elif kind == "error":
            progress.console.print(f"[red]error {event.get('code')}: {event.get('message')}[/]")

    call.attach(show)
    total = source.duration_ms
    with progress:
        task = progress.add_task("replay", total=total, clock=f"00:00 / {_clock(total)}")
        t0 = time.monotonic()
        for t_ms, frames in source.frames():
            for frame in frames:
                call.push(frame)
            call.drain()  # keep the channels in step so turns come out in call order
            if speed > 0:
                delay = t0 + t_ms / 1000.0 / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            progress.update(task, completed=t_ms, clock=f"{_clock(t_ms)} / {_clock(total)}")
        ended = call.finish("replay finished")
    if as_json:
        return
    console.rule("summary")
    console.print(ended.get("summary") or "(no summary)", highlight=False)
    scores = ended.get("scores") or {}
    if scores:
        console.print("scores: " + ", ".join(f"{k} {v}" for k, v in scores.items()))
    m = ended.get("metrics") or {}
    console.print(f"call {call.call_id}: {ended.get('turns')} turns, {call.stats.nudges} nudges, "
                  f"talk ratio {m.get('talk_ratio')}, duration {_clock(ended.get('duration_ms'))}")
