"""``salescoach transcribe``: a recording → speaker turns, with the configured engine."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("transcribe")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--engine", type=click.Choice(["auto", "local", "assemblyai"]), default=None,
              help="override SALESCOACH_STT_ENGINE for this run")
@click.option("--json", "as_json", is_flag=True, help="print the turns (with words) as JSON")
@click.option("--words", is_flag=True, help="also show each word with its time")
def transcribe_cmd(file: Path, engine: str | None, as_json: bool, words: bool) -> None:
    """Transcribe a call recording into rep/customer turns.

    FILE: WAV, MP3, M4A, OGG, WebM or FLAC. Stereo recordings: left channel = rep, right =
    customer. Mono recordings: speakers by AssemblyAI's diarization, or alternated at pauses
    with the local engine. Nothing is stored; see `salescoach analyze` for the full pipeline.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from plugin.cli import settings_or_exit
    from plugin.providers.errors import ProviderError
    from plugin.speech import get_stt

    settings = settings_or_exit(**({"stt_engine": engine} if engine else {}))
    console = Console(stderr=as_json)
    try:
        stt = get_stt(settings)
        with Progress(TextColumn("[bold]transcribing[/] {task.description}"), BarColumn(),
                      TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                      console=console, transient=as_json) as bar:
            task = bar.add_task(f"{file.name} ({stt.name})", total=1.0)
            turns = stt.transcribe_file(file, progress=lambda f: bar.update(task, completed=f))
    except ProviderError as exc:
        raise click.ClickException(f"{exc.message}"
                                   + (" (temporary: try again)" if exc.retryable else "")) from None
    if as_json:
        click.echo(json.dumps([{
            "seq": t.seq, "speaker": t.speaker, "text": t.text, "start_ms": t.start_ms,
            "end_ms": t.end_ms,
            "words": [{"text": w.text, "start_ms": w.start_ms, "end_ms": w.end_ms,
                       "confidence": w.confidence} for w in t.words]} for t in turns],
            indent=2))
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("time", justify="right")
    table.add_column("speaker")
    table.add_column("text")
    for t in turns:
        text = t.text
        if words:
            text += "\n" + " ".join(f"{w.text}@{w.start_ms / 1000:.2f}" for w in t.words)
        table.add_row(f"{t.start_ms / 1000:6.1f}s", t.speaker, text)
    console.print(table)
    if not turns:
        console.print("[yellow]no speech found[/]")
