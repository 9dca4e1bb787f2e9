"""Erasure of a contact's, a rep's or a tenant's data, with a stored receipt.

Refused while the subject has a live call or pipeline work in flight (a worker would write
rows back). Rows go in one transaction, children before parents (``Base.metadata.sorted_tables``
reversed); files are removed after the commit (a file left by a crash is listed by the next
erasure of the same subject, since its row is gone only once the commit held). A rep's
entries as actor in the audit log are pseudonymised, not deleted, so the log stays whole.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import delete, update

from plugin import audit
from plugin.db import db
from plugin.models import (
    AuditEvent,
    Base,
    CrmConnection,
    PracticeAssignment,
    PrivacyReceipt,
    User,
)
from plugin.privacy.receipts import receipt_dict
from plugin.privacy.selection import (
    Selection,
    SelectionError,
    Subject,
    _pk,
    all_files,
    collect,
    relative,
)
from plugin.providers.errors import ProviderError
from plugin.settings import Settings

log = logging.getLogger(__name__)

CRM_NOTE = ("Left in your CRM (the record is the customer's own): delete it there by id. "
            "Sales Coach deletes them itself when the erasure is asked with delete_in_crm.")


class LiveCallsOpen(SelectionError):
    """The subject has calls still live; they must end before their data can be erased."""

    def __init__(self, call_ids: list[str]) -> None:
        super().__init__(f"{len(call_ids)} live call(s) still running: end them first")
        self.call_ids = call_ids


class PipelineBusy(SelectionError):
    """A recording of the subject is being transcribed or a write-back is being sent: the
    worker would write rows back for what was just erased. Retry once it has finished."""

    def __init__(self, busy: dict[str, list[Any]]) -> None:
        what = ", ".join(f"{len(v)} {k}" for k, v in busy.items())
        super().__init__(f"work still in the pipeline ({what}): retry in a few minutes")
        self.busy = busy


def pseudonym(crm_user_id: str) -> str:
    return "erased:" + hashlib.sha256(crm_user_id.encode()).hexdigest()[:12]


def erase(who: Subject, instance_path: Path, actor: Any, *, settings: Settings | None = None,
          delete_in_crm: bool = False) -> dict[str, Any]:
    """Delete everything of ``who``; returns the receipt (also stored in privacy_receipts).

    ``delete_in_crm`` (with ``settings``): also delete the call activities Sales Coach wrote
    to the CRM, through the adapters' delete call, once the admin has the customer's consent
    to; each activity's outcome is in the receipt. Without it they are only listed."""
    root = instance_path.resolve()
    with db.session_scope() as s:
        sel = collect(s, who, root)
        if sel.live_calls:
            raise LiveCallsOpen(sel.live_calls)
        if sel.busy:
            raise PipelineBusy(sel.busy)
        # before the rows go: a tenant's erasure deletes its CRM connections too
        adapters = _adapters(s, who.tenant_id, settings, sel) if delete_in_crm else {}
        files = list(all_files(sel))
        if who.kind == "rep":
            _detach_rep(s, sel)
        for table in reversed(Base.metadata.sorted_tables):
            pks = sel.rows.get(table.name) or []
            for i in range(0, len(pks), 500):
                s.execute(delete(table).where(_pk(table).in_(pks[i:i + 500])))
        receipt = PrivacyReceipt(
            tenant_id=who.tenant_id, action="delete", subject_kind=who.kind,
            subject_id=who.value, actor=audit.actor_of(actor)[0], counts=sel.counts(),
            ids={k: v for k, v in sel.rows.items() if v},
            files=[relative(f, root) for f in files], crm_activities=_crm(sel))
        s.add(receipt)
        s.flush()
        receipt_id = receipt.id
        out = receipt_dict(receipt)
    removed = remove_files(files, sel.folders)
    if delete_in_crm:
        out["crm_activities"] = _delete_in_crm(out["crm_activities"], adapters)
    with db.session_scope() as s:  # the CRM outcomes, and the audit event that names them
        row = s.get(PrivacyReceipt, receipt_id)
        if row is not None:
            row.crm_activities = out["crm_activities"]
        if who.kind != "tenant":  # a tenant's audit log goes with it; the receipt stays
            audit.record(s, who.tenant_id, actor, "privacy.delete", who.label,
                         receipt_id=receipt_id, counts=out["counts"],
                         crm_deleted=sum(1 for a in out["crm_activities"]
                                         if a.get("deleted_in_crm")))
    out["files_removed"] = removed
    log.info("privacy erase %s of %s by %s: %s", who.label, who.tenant_id, out["actor"],
             out["counts"])
    return out


def _adapters(s: Any, tenant_id: str, settings: Settings | None,
              sel: Selection) -> dict[str, Any]:
    """The CRM adapter of each CRM the subject's activities went to (None: not connected)."""
    from plugin.crm.factory import adapter_for

    if settings is None:
        raise SelectionError("deleting in the CRM needs the settings (CRM apps)")
    out: dict[str, Any] = {}
    for kind in sorted({a["crm"] for a in sel.crm_activities}):
        try:
            out[kind] = adapter_for(s, tenant_id, settings, kind=kind)
        except ProviderError as exc:
            log.warning("no %s adapter for %s: %s", kind, tenant_id, exc)
            out[kind] = None
    return out


def _delete_in_crm(activities: list[dict[str, Any]],
                   adapters: dict[str, Any]) -> list[dict[str, Any]]:
    """Each activity with its outcome: ``deleted_in_crm`` or ``left_in_crm`` and why."""
    out = []
    for a in activities:
        item = {k: v for k, v in a.items() if k != "note"}
        adapter = adapters.get(a["crm"])
        if adapter is None:
            item.update(left_in_crm=True, error=f"{a['crm']} is not connected: delete it there")
        else:
            try:
                existed = adapter.delete_call_activity(a["crm_id"])
                item.update(left_in_crm=False, deleted_in_crm=True, already_gone=not existed)
            except ProviderError as exc:
                item.update(left_in_crm=True, error=f"{a['crm']} refused: {exc}"[:500])
        out.append(item)
    return out


def _detach_rep(s: Any, sel: Selection) -> None:
    """What points at the rep without being theirs: connections they made, assignments they
    gave (by name), audit entries by them or about them (pseudonymised)."""
    users = sel.user_ids
    rows = list(s.query(User).filter(User.id.in_(users)))
    names = [n for u in rows for n in (u.name, u.crm_user_id) if n]
    s.execute(update(CrmConnection).where(CrmConnection.connected_by.in_(users))
              .values(connected_by=None))
    tenant_id = sel.subject.tenant_id
    if names:
        s.execute(update(PracticeAssignment).where(
            PracticeAssignment.tenant_id == tenant_id,
            PracticeAssignment.assigned_by.in_(names)).values(assigned_by=""))
    for crm_id in {u.crm_user_id for u in rows}:
        s.execute(update(AuditEvent).where(
            AuditEvent.tenant_id == tenant_id, AuditEvent.actor == crm_id).values(
                actor=pseudonym(crm_id), actor_name=""))
        s.execute(update(AuditEvent).where(
            AuditEvent.tenant_id == tenant_id, AuditEvent.target == f"user:{crm_id}").values(
                target=f"user:{pseudonym(crm_id)}"))


def _crm(sel: Selection) -> list[dict[str, Any]]:
    return [{**a, "left_in_crm": True, "note": CRM_NOTE} for a in sel.crm_activities]


def remove_files(files: list[Path], folders: list[Path]) -> int:
    """Unlink files and remove folders; a failure is logged and counted, never raised."""
    removed = 0
    for f in files:
        try:
            f.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError:
            log.exception("could not remove %s", f)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return removed
