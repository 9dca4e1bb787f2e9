"""Export of a contact's, a rep's or a tenant's data: one zip with a manifest.

Layout: ``manifest.json`` (subject, who asked, when, row counts, every file with its size
and SHA-256, the CRM activities written for the subject), ``data/<table>.json`` (the rows,
every column; encrypted CRM tokens left out), ``files/<path under the instance folder>``
(recordings, cached report PDFs, voice prints). The same selection as the erasure.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from plugin import audit
from plugin.db import db
from plugin.models import Base, PrivacyReceipt, new_id, utcnow
from plugin.privacy.selection import Subject, _pk, all_files, collect, relative

FORMAT = "salescoach-privacy-export/1"
SECRET_SUFFIX = "_enc"  # encrypted credentials are not personal data and never leave


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def export(who: Subject, instance_path: Path, actor: Any, out: IO[bytes]) -> dict[str, Any]:
    """Write the zip of ``who`` to ``out``; store and return the export receipt (manifest)."""
    root = instance_path.resolve()
    with db.session_scope() as s:
        sel = collect(s, who, root)
        receipt = PrivacyReceipt(id=new_id(), tenant_id=who.tenant_id, action="export",
                                 subject_kind=who.kind, subject_id=who.value,
                                 actor=audit.actor_of(actor)[0], created_at=utcnow())
        manifest: dict[str, Any] = {
            "format": FORMAT, "receipt_id": receipt.id, "tenant_id": who.tenant_id,
            "subject": {"kind": who.kind, "id": who.value}, "actor": receipt.actor,
            "at": receipt.created_at.isoformat(), "tables": {}, "files": [],
            "crm_activities": sel.crm_activities,
        }
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for table in Base.metadata.sorted_tables:
                pks = sel.rows.get(table.name) or []
                if not pks:
                    continue
                rows: list[dict[str, Any]] = []
                for i in range(0, len(pks), 500):
                    for row in s.execute(select(table).where(_pk(table).in_(pks[i:i + 500]))):
                        rows.append({k: jsonable(v) for k, v in row._mapping.items()
                                     if not k.endswith(SECRET_SUFFIX)})
                zf.writestr(f"data/{table.name}.json", json.dumps(rows, indent=1,
                                                                  ensure_ascii=False))
                manifest["tables"][table.name] = len(rows)
            for f in all_files(sel):
                name = "files/" + relative(f, root)
                digest, size = _add_file(zf, f, name)
                manifest["files"].append({"path": name, "bytes": size, "sha256": digest})
            receipt.counts = dict(manifest["tables"])
            receipt.files = [m["path"] for m in manifest["files"]]
            receipt.crm_activities = sel.crm_activities
            s.add(receipt)
            zf.writestr("manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
        audit.record(s, who.tenant_id, actor, "privacy.export", who.label,
                     receipt_id=receipt.id, counts=receipt.counts)
    return manifest


def _add_file(zf: zipfile.ZipFile, path: Path, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as src, zf.open(name, "w") as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            dst.write(chunk)
    return digest.hexdigest(), size
