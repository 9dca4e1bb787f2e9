"""``salescoach coach``: calibrate the judge on the training corpus, or ask it about a line."""

from __future__ import annotations

import json
import time

import click

from plugin.coach.analysers import calibrate as cal
from plugin.coach.analysers.corpus import TASKS, training_rows
from plugin.coach.analysers.features import NO_CONTEXT, Context
from plugin.coach.analysers.judge import (
    THRESHOLDS_PATH,
    WEIGHTS_PATH,
    JudgeWeights,
    save_weights,
    train_judge,
)
from plugin.coach.playbook import default_playbook


@click.group("coach")
def coach_group() -> None:
    """The coach's judgement: calibrate it, or see how it reads a line."""


@coach_group.command("calibrate")
@click.option("--mode", type=click.Choice(["both", "embeddings", "lexical"]), default="both",
              show_default=True, help="which model to calibrate")
def calibrate_cmd(mode: str) -> None:
    """Train the judge on the bundled training corpus (plugin/coach/data), choose each
    task's thresholds by 5-fold cross-validation on that corpus only (detect: best F1;
    nudge: precision >= 0.90), and write the weights and thresholds the package ships."""
    from plugin.coach.analysers.detector import prototypes_for
    from plugin.coach.utterance import resolve_embedder

    rows = training_rows()
    pb = default_playbook()
    modes = ["embeddings", "lexical"] if mode == "both" else [mode]
    try:
        stored = json.loads(THRESHOLDS_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stored = {}
    weights: dict[str, JudgeWeights] = {}
    from plugin.coach.analysers.judge import load_weights

    for m in ("embeddings", "lexical"):
        old = load_weights(m)
        if old is not None and m not in modes:
            weights[m] = old
    for m in modes:
        embedder = resolve_embedder(True) if m == "embeddings" else None
        protos = prototypes_for(pb, embedder) if embedder is not None else None
        t0 = time.perf_counter()
        click.echo(f"{m}: {len(rows)} training rows; cross-validating…", err=True)
        stored[m] = cal.calibrate(rows, pb, embedder, protos)
        click.echo(f"{m}: training the shipped weights…", err=True)
        weights[m] = train_judge(embedder, rows)
        for task, figs in stored[m]["cv"].items():
            click.echo(f"  {task:14} detect {stored[m]['detect'].get(task, '-')!s:5} "
                       f"nudge {stored[m]['nudge'].get(task, '-')!s:5} {figs}")
        click.echo(f"{m}: done in {time.perf_counter() - t0:.0f} s", err=True)
    save_weights(weights)
    cal.write(stored)
    click.echo(f"wrote {WEIGHTS_PATH} and {THRESHOLDS_PATH}")


@coach_group.command("judge")
@click.argument("text")
@click.option("--speaker", type=click.Choice(["customer", "rep"]), default="customer",
              show_default=True)
@click.option("--after", "after", default="", help="the turn before it (the other side's)")
@click.option("--rules-only", is_flag=True, help="without the embedding model")
def judge_cmd(text: str, speaker: str, after: str, rules_only: bool) -> None:
    """How the coach reads one line: each moment's probability and what it decides."""
    from plugin.coach.utterance import analyse_with, detector_for

    pb = default_playbook()
    det = detector_for(pb, False if rules_only else None)
    ctx = NO_CONTEXT
    if after:
        other = "rep" if speaker == "customer" else "customer"
        prev = analyse_with(det, after, other)
        ctx = Context(other, prev.question, prev.objection, prev.next_step)
    a = analyse_with(det, text, speaker, context=ctx)
    d = a.detection
    probs = d.verdict.probs if d is not None and d.verdict is not None else {}
    th = det.judge.thresholds
    for task, (speakers, _) in TASKS.items():
        if speaker not in speakers or task not in probs:
            continue
        shown = ", ".join(f"{c} {p:.2f}" for c, p in sorted(probs[task].items(),
                                                           key=lambda kv: -kv[1]))
        click.echo(f"{task:14} {shown}  (detect {th.detect.get(task)}, nudge "
                   f"{th.nudge.get(task)})")
    click.echo("moments: " + (", ".join(
        f"{m.kind}:{m.label} {m.confidence:.2f}" for m in a.moments) or "none")
        + (f"; language {a.language}" if a.language != "en" else ""))
