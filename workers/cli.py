"""``salescoach worker`` (the Celery worker) and ``salescoach analyze FILE`` (one recording
through the whole pipeline with a progress bar)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from plugin.cli import settings_or_exit
from workers.celery_app import QUEUES


@click.command("worker", context_settings={"ignore_unknown_options": False})
@click.option("--pool", type=click.Choice(["threads", "solo", "prefork"]), default="threads",
              show_default=True, help="execution pool (time limits are enforced by prefork only)")
@click.option("-c", "--concurrency", type=int, default=2, show_default=True,
              help="tasks at once (2 suits a 2-core machine; transcription is CPU-bound)")
@click.option("-Q", "--queues", default=",".join(QUEUES), show_default=True,
              help="comma-separated queues to consume")
@click.option("--beat/--no-beat", default=None,
              help="run the 30 s recovery sweep scheduler inside this worker "
                   "[default: on with the embedded broker; run one `celery beat` in production]")
@click.option("-n", "--hostname", default="salescoach@%h", show_default=True,
              help="node name; must be unique among running workers (claims are freed by it)")
@click.option("-l", "--loglevel", default="INFO", show_default=True)
def worker_cmd(pool: str, concurrency: int, queues: str, beat: bool | None, hostname: str,
               loglevel: str) -> None:
    """Run a Celery worker for transcription, analysis, CRM write-back and live tasks.

    The broker is SALESCOACH_BROKER_URL (redis://… or amqp://…); without it, the embedded
    filesystem broker under <instance>/broker/ (no server needed).
    """
    settings = settings_or_exit()
    from workers.celery_app import get_celery

    app = get_celery()
    if beat is None:
        beat = settings.uses_embedded_broker
    argv = ["worker", "--pool", pool, "--concurrency", str(concurrency), "-Q", queues,
            "-n", hostname, "--loglevel", loglevel, "--without-gossip", "--without-mingle"]
    if beat:
        argv.append("--beat")
    click.echo(f"worker {hostname}: pool={pool} x{concurrency}, queues={queues}, "
               f"broker={'embedded filesystem' if settings.uses_embedded_broker else 'server'}"
               f"{', with recovery beat' if beat else ''}")
    app.worker_main(argv)


@click.command("beat")
@click.option("-l", "--loglevel", default="INFO", show_default=True)
def beat_cmd(loglevel: str) -> None:
    """Run the Celery beat scheduler alone: the recovery sweep every 15 s.

    Run exactly one (two would queue every sweep twice, harmless but wasteful). Its schedule
    file lives in <instance>/broker/ with the embedded broker, else in the temp folder.
    """
    import tempfile

    settings = settings_or_exit()
    from workers.celery_app import get_celery

    app = get_celery()
    schedule = app.conf.get("beat_schedule_filename") or str(
        Path(tempfile.gettempdir()) / "salescoach-beat-schedule")
    app.start(["beat", "--loglevel", loglevel, "--schedule", schedule])
    del settings


STAGES = [("transcribe", "Transcribing"), ("analyse", "Analysing"), ("report", "Building report"),
          ("writeback", "Writing to the CRM")]


@click.command("analyze")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--record", "record_id", default="", help="CRM record id of the person called")
@click.option("--record-type", default="", help="CRM record type (Contact, Lead, contact…)")
@click.option("--tenant", default="demo", show_default=True, help="tenant (org) id")
@click.option("--title", default="", help="call title [default: the file name]")
@click.option("--queue", "use_queue", is_flag=True,
              help="enqueue on the workers and poll (needs `salescoach worker` running) "
                   "instead of running the stages in this process")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="with --queue: follow the status until done")
def analyze_cmd(file: Path, record_id: str, record_type: str, tenant: str, title: str,
                use_queue: bool, wait: bool) -> None:
    """Analyse a call recording: transcribe → analyse → report → CRM write-back.

    By default the stages run in this process with a progress bar each; the report lands in
    the database (see /panel/calls) and the activity in the CRM through the outbox, exactly
    as the workers do it. FILE: WAV, MP3, M4A, OGG, WebM or FLAC; stereo = rep left,
    customer right.
    """
    from rich.console import Console

    from plugin import migrate
    from plugin.app import create_app
    from plugin.db import db
    from plugin.models import Tenant, User
    from plugin.pipeline.recordings import UploadRejected, store_upload

    console = Console()
    settings = settings_or_exit()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    app = create_app(settings=settings)
    with app.app_context():
        if tenant == "demo":
            from plugin.seed import seed_demo

            seed_demo(settings)
        with db.session_scope() as s:
            if s.get(Tenant, tenant) is None:
                raise click.ClickException(f"unknown tenant {tenant!r}")
            user = s.query(User).filter(User.tenant_id == tenant).order_by(User.id).first()
            user_id = user.id if user else None
        try:
            with file.open("rb") as fh:
                stored = store_upload(settings, tenant_id=tenant, user_id=user_id,
                                      filename=file.name, stream=fh, record_id=record_id,
                                      record_type=record_type, title=title)
        except UploadRejected as exc:
            raise click.ClickException(exc.message) from None
        console.print(f"recording [bold]{stored.recording_id}[/] → call [bold]{stored.call_id}[/]")
        if use_queue:
            _queued(console, stored.recording_id, wait)
        else:
            _in_process(console, settings, stored.recording_id, stored.call_id)
        from plugin.reports.links import report_url

        # The signed read-only link opens without a CRM session (as the CRM activity's does).
        console.print(f"report: {report_url(settings, tenant, stored.call_id)}")


def _progress(console: Any) -> Any:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<20}"), BarColumn(), TaskProgressColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[note]}"), console=console)


def _in_process(console: Any, settings: Any, recording_id: str, call_id: str) -> None:
    from plugin.pipeline import outbox, stages

    with _progress(console) as bar:
        ids = {k: bar.add_task(label, total=1.0, note="") for k, label in STAGES}

        def on(stage: str, fraction: float) -> None:
            bar.update(ids[stage], completed=fraction)

        try:
            stages.transcribe(recording_id, settings, progress=on)
            bar.update(ids["transcribe"], completed=1.0)
            version = stages.analyse(call_id, settings, progress=on)
        except stages.StageFailed as exc:
            stages.fail_recording(recording_id, exc.reason)
            raise click.ClickException(exc.reason) from None
        bar.update(ids["analyse"], completed=1.0)
        bar.update(ids["report"], completed=1.0, note=f"v{version}")
        item_id = stages.queue_writeback(call_id, version or 1, settings)
        if item_id is None:
            bar.update(ids["writeback"], completed=1.0, note="skipped (no CRM record/connection)")
            stages.set_recording_of_call(call_id, stage="done", status="done", progress=100)
            return
        while True:
            result = outbox.deliver(item_id, settings, worker="cli")
            stages.mark_writeback(call_id, result)
            if result.outcome in ("done", "already_done"):
                bar.update(ids["writeback"], completed=1.0, note=f"CRM id {result.crm_id}")
                return
            if result.outcome in ("failed", "missing"):
                bar.update(ids["writeback"], note=f"[red]failed: {result.error}")
                raise click.ClickException(f"CRM write-back failed: {result.error} "
                                           f"(retry it on /admin/outbox)")
            bar.update(ids["writeback"], note=f"retry in {result.countdown:.0f}s: {result.error}")
            time.sleep(min(result.countdown, 60))


def _queued(console: Any, recording_id: str, wait: bool) -> None:
    from plugin.db import db
    from plugin.models import Recording
    from plugin.pipeline import submit_recording

    submit_recording(recording_id)
    if not wait:
        console.print(f"queued; follow it at /api/v1/recordings/{recording_id}")
        return
    order = ["uploaded", "transcribing", "analysing", "reporting", "writing_back", "done"]
    with _progress(console) as bar:
        task = bar.add_task("Queued", total=100, note="")
        while True:
            with db.session_scope() as s:
                rec = s.get(Recording, recording_id)
                assert rec is not None
                stage, status, progress, error = rec.stage, rec.status, rec.progress, rec.error
            step = order.index(stage) if stage in order else len(order) - 1
            overall = (60 * progress / 100 if stage == "transcribing"
                       else 100 * step / (len(order) - 1))
            bar.update(task, description=stage.replace("_", " ").capitalize(),
                       completed=max(overall, 0), note=error[:60] if error else "")
            if status == "failed":
                raise click.ClickException(error or "failed")
            if stage == "done":
                bar.update(task, completed=100)
                return
            time.sleep(0.5)
