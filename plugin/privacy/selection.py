"""What belongs to a data subject: every row and file of a contact, a rep or a whole tenant.

One selection serves the export and the erasure, so what is exported is exactly what is
erased. Every table of ``Base.metadata`` must be classified in ``TABLES``: ``collect``
refuses to run when a table is not (a new table cannot be silently left out of an erasure).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session

from plugin.crm_auth import salesforce_id18
from plugin.models import (
    Base,
    Call,
    Nudge,
    OutboxAttempt,
    OutboxItem,
    PracticeAssignment,
    PracticeDrill,
    PracticeReply,
    PracticeSession,
    Recording,
    Report,
    Turn,
    User,
)
from plugin.practice.customer import customer_scenario_id

KINDS = ("contact", "rep", "tenant")

# How each table relates to people (docs/privacy.md):
#   personal: rows of a contact or a rep, selected by the rules in ``_select_person``;
#   org: the organisation's own content (playbooks, authored scenarios, CRM connections),
#        erased with the tenant only;
#   log: the audit log, erased with the tenant, pseudonymised for a rep;
#   proof: privacy receipts (ids and counts only), kept after the erasure they prove;
#   infrastructure: short-lived locks holding no personal data.
TABLES: dict[str, str] = {
    "tenants": "org",
    "users": "personal",
    "teams": "org",  # team names of the role model (docs/security.md)
    "playbooks": "org",
    "crm_connections": "org",
    "calls": "personal",
    "turns": "personal",
    "nudges": "personal",
    "recordings": "personal",
    "reports": "personal",
    "outbox": "personal",
    "outbox_attempts": "personal",
    "practice_sessions": "personal",
    "practice_replies": "personal",
    "practice_scenarios": "org",
    "practice_assignments": "personal",
    "practice_drills": "personal",
    "audit_events": "log",
    "privacy_receipts": "proof",
    "task_locks": "infrastructure",
}


class SelectionError(ValueError):
    """The subject cannot be selected (bad id, unclassified table)."""


class UnknownSubject(SelectionError):
    """No such rep in the tenant (a 404, the same as another tenant's rep)."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose data: ``kind`` contact (a CRM record id), rep (a CRM user id) or tenant."""

    tenant_id: str
    kind: str
    value: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass
class Selection:
    """Primary keys per table, files on disk, and the CRM activities written for them."""

    subject: Subject
    rows: dict[str, list[Any]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)  # removed whole (tenant erasure)
    crm_activities: list[dict[str, Any]] = field(default_factory=list)
    live_calls: list[str] = field(default_factory=list)
    busy: dict[str, list[Any]] = field(default_factory=dict)  # pipeline work in flight
    user_ids: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(pks) for name, pks in self.rows.items() if pks}


def safe_name(tenant_id: str) -> str:
    """The folder name of a tenant under the instance folders (as the writers spell it)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", tenant_id)


def subject(tenant_id: str, kind: str, value: str = "") -> Subject:
    """A checked subject (``SelectionError`` names what is wrong)."""
    if kind not in KINDS:
        raise SelectionError(f"kind must be one of {', '.join(KINDS)}")
    if kind == "tenant":
        return Subject(tenant_id, "tenant", tenant_id)
    value = (value or "").strip()
    if not value or len(value) > 64 or not value.isprintable():
        raise SelectionError(f"{kind} must be a CRM id of 1 to 64 printable characters")
    return Subject(tenant_id, kind, value)


def id_forms(tenant_id: str, value: str) -> list[str]:
    """The spellings of a CRM id the stored rows may use: a Salesforce id in its 15- and
    18-character forms (entry paths store 18, people often paste 15)."""
    forms = {value}
    if tenant_id.startswith("sf:") and value.isascii() and value.isalnum():
        if len(value) == 15:
            forms.add(salesforce_id18(value))
        elif len(value) == 18 and salesforce_id18(value[:15]).lower() == value.lower():
            forms.add(value[:15])
    return sorted(forms)


def unclassified_tables() -> list[str]:
    return sorted(set(Base.metadata.tables) - set(TABLES))


def collect(session: Session, who: Subject, instance_path: Path) -> Selection:
    """Everything of ``who`` in the database and under ``instance_path``."""
    missing = unclassified_tables()
    if missing:
        raise SelectionError(f"tables not classified for privacy: {', '.join(missing)} "
                             "(add them to plugin.privacy.selection.TABLES)")
    sel = Selection(who)
    if who.kind == "tenant":
        _select_tenant(session, sel)
    else:
        _select_person(session, sel)
    _select_files(session, sel, instance_path)
    sel.crm_activities = [
        {"crm": o.crm, "crm_id": o.crm_id, "call_id": o.call_id, "kind": o.kind,
         "status": o.status, "record_id": str((o.payload or {}).get("record_id") or "")}
        for o in _rows(session, OutboxItem, sel.rows.get("outbox", [])) if o.crm_id]
    sel.live_calls = [c.id for c in _rows(session, Call, sel.rows.get("calls", []))
                      if c.status == "live"]
    busy = {
        "recordings": [r.id for r in _rows(session, Recording, sel.rows.get("recordings", []))
                       if r.status in ("queued", "running")],
        "outbox": [o.id for o in _rows(session, OutboxItem, sel.rows.get("outbox", []))
                   if o.status == "sending"],
    }
    sel.busy = {k: v for k, v in busy.items() if v}
    return sel


def _rows(session: Session, model: Any, pks: list[Any]) -> list[Any]:
    out: list[Any] = []
    pk = model.__mapper__.primary_key[0]
    for i in range(0, len(pks), 500):
        out.extend(session.scalars(select(model).where(pk.in_(pks[i:i + 500]))))
    return out


def _ids(session: Session, column: Any, *where: Any) -> list[Any]:
    return list(session.scalars(select(column).where(*where)))


def _select_tenant(session: Session, sel: Selection) -> None:
    tenant_id = sel.subject.tenant_id
    for table in Base.metadata.sorted_tables:
        if TABLES[table.name] in ("proof", "infrastructure"):
            continue
        column = table.c.get("id") if table.name == "tenants" else table.c.get("tenant_id")
        if column is None:
            raise SelectionError(f"table {table.name} has no tenant_id to erase it by")
        sel.rows[table.name] = list(session.scalars(
            select(_pk(table)).where(column == tenant_id)))
    sel.user_ids = [int(u) for u in sel.rows.get("users", [])]


def _pk(table: Table) -> Any:
    cols = list(table.primary_key.columns)
    if len(cols) != 1:
        raise SelectionError(f"table {table.name} needs a one-column primary key")
    return cols[0]


def _select_person(session: Session, sel: Selection) -> None:
    who = sel.subject
    t = who.tenant_id
    users: list[int] = []
    if who.kind == "rep":
        users = _ids(session, User.id, User.tenant_id == t,
                     User.crm_user_id.in_(id_forms(t, who.value)))
        if not users:
            raise UnknownSubject(f"no rep {who.value!r} in this org")
        calls = _ids(session, Call.id, Call.tenant_id == t, Call.user_id.in_(users))
        sessions = _ids(session, PracticeSession.id, PracticeSession.tenant_id == t,
                        PracticeSession.user_id.in_(users))
        drills = _ids(session, PracticeDrill.id, PracticeDrill.tenant_id == t,
                      PracticeDrill.user_id.in_(users))
        assignments = _ids(session, PracticeAssignment.id, PracticeAssignment.tenant_id == t,
                           PracticeAssignment.user_id.in_(users))
        recordings = _ids(session, Recording.id, Recording.tenant_id == t,
                          or_(Recording.user_id.in_(users), Recording.call_id.in_(calls)))
    else:
        forms = id_forms(t, who.value)
        scenarios = sorted({customer_scenario_id(f) for f in forms})
        calls = _ids(session, Call.id, Call.tenant_id == t, Call.record_id.in_(forms))
        sessions = _ids(session, PracticeSession.id, PracticeSession.tenant_id == t,
                        PracticeSession.scenario_id.in_(scenarios))
        drills = _ids(session, PracticeDrill.id, PracticeDrill.tenant_id == t,
                      PracticeDrill.scenario_id.in_(scenarios))
        assignments = _ids(session, PracticeAssignment.id, PracticeAssignment.tenant_id == t,
                           PracticeAssignment.scenario_id.in_(scenarios))
        recordings = _ids(session, Recording.id, Recording.tenant_id == t,
                          Recording.call_id.in_(calls))
    outbox = _ids(session, OutboxItem.id, OutboxItem.tenant_id == t,
                  OutboxItem.call_id.in_(calls))
    sel.user_ids = [int(u) for u in users]
    sel.rows = {
        "users": users,
        "calls": calls,
        "turns": _ids(session, Turn.id, Turn.tenant_id == t, Turn.call_id.in_(calls)),
        "nudges": _ids(session, Nudge.id, Nudge.tenant_id == t, Nudge.call_id.in_(calls)),
        "reports": _ids(session, Report.id, Report.tenant_id == t, Report.call_id.in_(calls)),
        "recordings": recordings,
        "outbox": outbox,
        "outbox_attempts": _ids(session, OutboxAttempt.id, OutboxAttempt.tenant_id == t,
                                OutboxAttempt.outbox_id.in_(outbox)),
        "practice_sessions": sessions,
        "practice_replies": _ids(session, PracticeReply.id, PracticeReply.tenant_id == t,
                                 PracticeReply.session_id.in_(sessions)),
        "practice_drills": drills,
        "practice_assignments": assignments,
    }
    missing = {n for n, role in TABLES.items() if role == "personal"} - set(sel.rows)
    if missing:  # a table classified personal needs a rule above
        raise SelectionError(f"no selection rule for {', '.join(sorted(missing))}")


def _select_files(session: Session, sel: Selection, instance_path: Path) -> None:
    """Recordings, cached report PDFs, live-bus event folders and voice prints."""
    root = instance_path.resolve()
    tenant = safe_name(sel.subject.tenant_id)
    for rec in _rows(session, Recording, sel.rows.get("recordings", [])):
        if rec.path:
            sel.files.append(Path(rec.path))
    calls = [str(c) for c in sel.rows.get("calls", [])]
    reports = root / "reports" / tenant
    for call_id in calls:
        sel.files.extend(sorted(reports.glob(f"{glob_escape(call_id)}-v*.pdf")))
        bus = root / "live_bus" / call_id
        if bus.is_dir():
            sel.folders.append(bus)
    prints = root / "voiceprints" / tenant
    sel.files.extend(prints / f"{u}.npy" for u in sel.user_ids if (prints / f"{u}.npy").exists())
    if sel.subject.kind == "tenant":
        for name in ("recordings", "reports", "voiceprints"):
            folder = root / name / tenant
            if folder.is_dir():
                sel.folders.append(folder)
    sel.files = [f for f in dict.fromkeys(sel.files) if inside(f, root) and f.is_file()]
    sel.folders = [f for f in dict.fromkeys(sel.folders) if inside(f, root)]


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]])", r"[\1]", text)


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is under ``root`` (files elsewhere are never read or removed)."""
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return False
    return True


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return path.name


def all_files(sel: Selection) -> Iterable[Path]:
    """Every file of the selection, those inside removed folders included."""
    seen: set[Path] = set()
    for f in sel.files:
        seen.add(f.resolve())
        yield f
    for folder in sel.folders:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and f.resolve() not in seen:
                seen.add(f.resolve())
                yield f
