"""``salescoach practice``: practise objection handling against a simulated buyer in the
terminal, interactively or from a script of replies."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from plugin.web.errors import ApiError


def _bar(score: int, width: int = 20) -> str:
    filled = round(score / 100 * width)
    colour = "green" if score >= 70 else "yellow" if score >= 45 else "red"
    return f"[{colour}]{'█' * filled}[/{colour}][dim]{'░' * (width - filled)}[/dim]"


def read_script(path: Path) -> list[str]:
    """Replies from a file: YAML (a list, or ``replies:`` list) for .yaml/.yml, otherwise
    one reply per line (blank lines and lines starting with ``#`` are skipped)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise click.ClickException(f"{path}: invalid YAML: {exc}") from None
        if isinstance(data, dict):
            data = data.get("replies")
        if not isinstance(data, list) or not all(isinstance(r, str) for r in data):
            raise click.ClickException(
                f"{path}: expected a YAML list of reply strings (or 'replies:' with one)")
        return [r for r in data if r.strip()]
    lines = (ln.strip() for ln in text.splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


class Printer:
    """Human output with rich (or nothing, when ``--json`` collects everything instead)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.c = Console(highlight=False, stderr=quiet)

    def scenarios(self, items: list[dict[str, Any]]) -> None:
        t = Table(title="Practice scenarios", show_lines=False)
        # ids are what the rep types: never cut, whatever the terminal width
        t.add_column("id", no_wrap=True, min_width=max((len(s["id"]) for s in items), default=2))
        for col in ("title", "buyer", "difficulty"):
            t.add_column(col, overflow="fold")
        for s in items:
            p = s["persona"]
            t.add_row(s["id"], s["title"], f"{p['name']}, {p['role']}", s["difficulty"])
        self.c.print(t)

    def intro(self, session: dict[str, Any]) -> None:
        if self.quiet:
            return
        sc = session["scenario"]
        p = sc["persona"]
        self.c.print(Panel(f"{sc['summary']}\n\n[b]Buyer:[/b] {p['name']}, {p['role']} at "
                           f"{p['company']} ({p['temperament']})\n[b]Product:[/b] "
                           f"{sc['product']['name']}: {sc['product']['summary']}",
                           title=sc["title"], border_style="blue"))

    def buyer(self, name: str, text: str) -> None:
        if not self.quiet:
            self.c.print(f"\n[bold magenta]{name}:[/bold magenta] {text}")

    def feedback(self, r: dict[str, Any]) -> None:
        if self.quiet:
            return
        if r.get("source") == "voice" or not sys.stdin.isatty():
            self.c.print(f"[bold cyan]You:[/bold cyan] {r['text']}")
        t = Table(show_header=False, box=None, padding=(0, 1))
        for name in ("tone", "content", "strategy"):
            d = r[name]
            t.add_row(name.capitalize(), _bar(d["score"]), f"{d['score']:>3}", d["reason"])
        colour = {"good": "green", "partial": "yellow", "weak": "red"}[r["quality"]]
        title = f"Reply {r['seq']}" if "seq" in r else "Drill"
        self.c.print(Panel(t, title=f"{title}: {r['overall']}/100 "
                                    f"[{colour}]{r['quality']}[/{colour}]", border_style="dim"))
        for f in r.get("flaws", []):
            self.c.print(f"[red]✗ {f['label']}[/red]: {f['evidence']}")
        self.c.print(f"[dim]Stronger:[/dim] [italic]{r['improved']}[/italic]")

    def change(self, ch: dict[str, Any] | None) -> None:
        if self.quiet or not ch:
            return
        d = ch["delta"]
        parts = [f"{k} {d[k]:+d}" for k in ("overall", "tone", "content", "strategy")]
        fixed = f" · fixed: {', '.join(ch['fixed_flaws'])}" if ch["fixed_flaws"] else ""
        self.c.print(f"[b]Since your last try ({ch['previous_overall']}):[/b] "
                     + " · ".join(parts) + fixed)

    def working(self, message: str) -> Any:
        """A spinner while the reply is scored (the first one loads the language models)."""
        if self.quiet or not self.c.is_terminal:
            return contextlib.nullcontext()
        return self.c.status(message)

    def warn(self, message: str) -> None:
        Console(stderr=True).print(f"[red]✗ {message}[/red]")

    def scorecard(self, sc: dict[str, Any]) -> None:
        if self.quiet or not sc:
            return
        avg = sc["averages"]
        t = Table(title=f"Scorecard: {sc['title']}", show_header=True)
        t.add_column("Objection")
        t.add_column("Result")
        t.add_column("Tries", justify="right")
        t.add_column("Best", justify="right")
        for o in sc["objections"]:
            t.add_row(o["label"][:70], o["status"].replace("_", " "), str(o["attempts"]),
                      "–" if o["best_score"] is None else str(o["best_score"]))
        self.c.print()
        self.c.print(t)
        def num(v: Any) -> str:
            return "–" if v is None else str(v)

        self.c.print(f"[b]{sc['outcome_label']}[/b] · overall {num(sc['overall'])} · tone "
                     f"{num(avg['tone'])} · content {num(avg['content'])} · strategy "
                     f"{num(avg['strategy'])}")
        self.c.print("[green]Strengths:[/green] " + " ".join(sc["strengths"]))
        self.c.print("[yellow]Practise next:[/yellow] " + " ".join(sc["practise_next"]))


@click.command("practice")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@click.option("--scenario", "scenario_id", metavar="ID",
              help="Scenario to practise (see --list). Asked for when omitted.")
@click.option("--script", "script", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Replies to send, one per line (or a YAML list); no prompts.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (session, replies with feedback, scorecard).")
@click.option("--drill", "drill_mode", is_flag=True,
              help="Free-form drill: a customer line (--line or typed), then your answers; "
                   "each answer after the first is a retry and shows what changed.")
@click.option("--line", "customer_line", metavar="TEXT",
              help="With --drill: what the customer says.")
@click.option("--tenant", default="demo", show_default=True, help="Tenant the session belongs to.")
@click.option("--user", "crm_user", default="demo-rep", show_default=True,
              help="Rep (CRM user id) whose history the session joins.")
def practice_cmd(list_only: bool, scenario_id: str | None, script: Path | None, as_json: bool,
                 drill_mode: bool, customer_line: str | None, tenant: str,
                 crm_user: str) -> None:
    """Practise objection handling against a simulated buyer.

    The buyer raises the scenario's objections in character; each reply is scored for
    tone, content and strategy (0-100, with a reason) and you get a stronger version of it.
    The session ends when a next step is agreed, the buyer runs out of patience, or you
    type /finish (or press Ctrl-D); then the scorecard and your progress are shown.
    Sessions are saved, so `salescoach practice` history shows in the panel too.
    A reply may have up to SALESCOACH_MAX_REPLY_CHARS characters (default 4000);
    empty or over-long replies are refused with a message and the session goes on.

    \b
    Examples:
      salescoach practice --list
      salescoach practice --scenario cfo-discovery
      salescoach practice --scenario procurement-price --script replies.txt --json
      salescoach practice --drill --line "You're 30% more expensive than Pipewise."
    """
    from plugin.cli import settings_or_exit
    from plugin.practice.scenarios import ScenarioError, library

    try:
        library()
    except ScenarioError as exc:
        raise click.ClickException(f"scenario library: {exc}") from None
    printer = Printer(quiet=as_json)
    if list_only:
        items = [s.summary_dict() for s in library().values()]
        if as_json:
            click.echo(json.dumps({"scenarios": items}, indent=2))
        else:
            printer.scenarios(items)
        return
    if drill_mode:
        if customer_line is None:
            if script is not None or not sys.stdin.isatty():
                raise click.UsageError("--line TEXT is required with --drill and --script or "
                                       "piped input")
            customer_line = click.prompt("Customer says", err=as_json)
        replies = read_script(script) if script is not None else None
        result = run_drill(settings_or_exit(), tenant, crm_user, customer_line, scenario_id,
                           replies, printer)
        if as_json:
            click.echo(json.dumps(result, indent=2, default=str))
        return
    if customer_line is not None:
        raise click.UsageError("--line is for --drill")
    if scenario_id is None:
        if script is not None or as_json or not sys.stdin.isatty():
            raise click.UsageError("--scenario ID is required with --script/--json or piped "
                                   "input; see --list")
        printer.scenarios([s.summary_dict() for s in library().values()])
        scenario_id = click.prompt("Scenario id", type=click.Choice(sorted(library())))
    if scenario_id not in library():
        raise click.ClickException(f"unknown scenario {scenario_id!r}; available: "
                                   f"{', '.join(sorted(library()))}")
    replies = read_script(script) if script is not None else None
    settings = settings_or_exit()
    result = run_session(settings, tenant, crm_user, scenario_id, replies, printer)
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))


def run_session(settings: Any, tenant: str, crm_user: str, scenario_id: str,
                replies: list[str] | None, printer: Printer) -> dict[str, Any]:
    """Start a session, feed it replies (scripted or typed) and finish it; return everything."""
    from plugin import migrate
    from plugin.db import db
    from plugin.practice.service import PracticeService
    from plugin.security import Identity
    from plugin.tenancy import ensure_tenant, ensure_user

    settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    db.configure(settings.database_url)
    with db.session_scope() as s:
        ensure_tenant(s, tenant, "demo" if tenant == "demo" else "salesforce")
        user = ensure_user(s, tenant, crm_user)
        who = Identity(tenant_id=tenant, user_id=user.id, crm_user_id=crm_user, name=user.name)

    def service(s: Any) -> PracticeService:
        return PracticeService(s, who, max_reply_chars=settings.max_reply_chars,
                               embeddings=settings.embeddings)

    with db.session_scope() as s:
        session = service(s).start(scenario_id)
    name = session["scenario"]["persona"]["name"]
    printer.intro(session)
    printer.buyer(name, session["buyer"]["text"])
    turns: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    queue = list(replies) if replies is not None else None
    while session["status"] == "active":
        text = _next_reply(queue, printer)
        if text is None or text.strip() == "/finish":
            break
        try:
            with printer.working("Scoring your reply…"), db.session_scope() as s:
                out = service(s).reply(session["id"], text)
        except ApiError as exc:
            printer.warn(f"{exc.message} (reply not sent)")
            errors.append({"code": exc.code, "message": exc.message, "reply": text[:200]})
            continue
        turns.append(out["reply"])
        session = out["session"]
        printer.feedback(out["reply"])
        printer.buyer(name, out["buyer"]["text"])
    if session["status"] == "active":
        with db.session_scope() as s:
            session = service(s).finish(session["id"])
    with db.session_scope() as s:
        progress = service(s).history(scenario_id)["progress"]
    printer.scorecard(session["scorecard"])
    if not printer.quiet and progress["count"] > 1:
        trend = progress["trend"]
        printer.c.print(f"[dim]Progress on this scenario: {progress['count']} sessions, best "
                        f"{progress['best']}, trend {'n/a' if trend is None else f'{trend:+d}'}"
                        "[/dim]")
    return {"session_id": session["id"], "scenario_id": scenario_id,
            "outcome": session["scorecard"]["outcome"], "replies": turns, "rejected": errors,
            "scorecard": session["scorecard"], "progress": {
                k: progress[k] for k in ("count", "average", "best", "trend", "focus")}}


def _identity(settings: Any, tenant: str, crm_user: str) -> Any:
    from plugin import migrate
    from plugin.db import db
    from plugin.security import Identity
    from plugin.tenancy import ensure_tenant, ensure_user

    settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    db.configure(settings.database_url)
    with db.session_scope() as s:
        ensure_tenant(s, tenant, "demo" if tenant == "demo" else "salesforce")
        user = ensure_user(s, tenant, crm_user)
        return Identity(tenant_id=tenant, user_id=user.id, crm_user_id=crm_user, name=user.name)


def run_drill(settings: Any, tenant: str, crm_user: str, customer_line: str,
              scenario_id: str | None, replies: list[str] | None,
              printer: Printer) -> dict[str, Any]:
    """Answer one customer line, again and again: feedback on each, and what changed."""
    from plugin.db import db
    from plugin.practice.service import PracticeService

    who = _identity(settings, tenant, crm_user)
    queue = list(replies) if replies is not None else None
    attempts: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    printer.buyer("Customer", customer_line)
    while True:
        text = _next_reply(queue, printer)
        if text is None or text.strip() in ("/finish", "/quit"):
            break
        try:
            with printer.working("Scoring your answer…"), db.session_scope() as s:
                out = PracticeService(s, who, max_reply_chars=settings.max_reply_chars,
                                      embeddings=settings.embeddings).drill(
                    customer_line, text, scenario_id,
                    attempts[-1]["id"] if attempts else None)
        except ApiError as exc:
            printer.warn(f"{exc.message} (answer not scored)")
            errors.append({"code": exc.code, "message": exc.message, "reply": text[:200]})
            if exc.details.get("field") in ("customer_line", "scenario_id") or exc.status == 404:
                break
            continue
        attempts.append(out)
        printer.feedback(out)
        printer.change(out["change"])
        if queue is None and not printer.quiet:
            printer.c.print("[dim]Try again, or /finish.[/dim]")
    return {"customer_line": customer_line, "attempts": attempts, "rejected": errors}


def _next_reply(queue: list[str] | None, printer: Printer) -> str | None:
    if queue is not None:
        return queue.pop(0) if queue else None
    try:
        return click.prompt("\nYou", prompt_suffix=" › ", default="", show_default=False,
                            err=printer.quiet) or ""
    except (EOFError, click.Abort):
        return None
