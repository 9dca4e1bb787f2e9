"""Privacy routes for admins: export and erase a contact's, a rep's or the whole tenant's
data, the receipts of those and of retention runs, and the audit log (JSON or CSV).

All under ``/api/v1/privacy/…``, admin only, walled to the admin's tenant. The export and
delete routes take JSON ``{"kind": "contact|rep|tenant", "id": "…"}`` or the admin page's
form; a tenant erasure must repeat the tenant id in ``confirm``; ``delete_in_crm: true``
also deletes the call activities written to the CRM (once the customer agreed to it).
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, request, send_file

from plugin import audit
from plugin.db import request_session
from plugin.privacy import receipts as receipt_store
from plugin.privacy.erase import LiveCallsOpen, PipelineBusy, erase
from plugin.privacy.export import export
from plugin.privacy.selection import SelectionError, Subject, UnknownSubject, subject
from plugin.security import Identity
from plugin.web.admin import _render, _wants_html
from plugin.web.auth import token_from_request
from plugin.web.crm_oauth import admin_identity
from plugin.web.errors import ApiError
from plugin.web.inputs import arg_int, form_str, json_object

bp = Blueprint("privacy_api", __name__)

AUDIT_FIELDS = ("id", "at", "actor", "actor_name", "action", "target", "details")


def _body() -> dict[str, Any]:
    if request.is_json:
        return json_object(required=True)
    form: dict[str, Any] = {k: form_str(k, 255) for k in ("kind", "id", "confirm")}
    form["delete_in_crm"] = request.form.get("delete_in_crm", "") in ("on", "true", "1")
    return form


def _subject(identity: Identity, body: dict[str, Any]) -> Subject:
    kind, value = body.get("kind"), body.get("id")
    if not isinstance(kind, str) or not isinstance(value, str | type(None)):
        raise ApiError(400, "invalid_request", "kind and id must be strings", field="kind")
    try:
        return subject(identity.tenant_id, kind, value or "")
    except SelectionError as exc:
        raise ApiError(400, "invalid_request", str(exc), field="id") from None


def _selection_error(exc: SelectionError) -> ApiError:
    if isinstance(exc, UnknownSubject):
        return ApiError(404, "not_found", str(exc))
    return ApiError(400, "invalid_request", str(exc))


def _fail(identity: Identity, exc: ApiError) -> Any:
    """An ApiError as JSON, or the admin page with the error shown (form posts)."""
    if _wants_html() and not request.is_json:
        return _render(identity, exc.status, privacy_error=exc.message)
    raise exc


@bp.post("/api/v1/privacy/export")
def export_route() -> Any:
    """A zip of everything of the subject (manifest.json, data/*.json, files/…)."""
    identity = admin_identity()
    try:
        who = _subject(identity, _body())
        out = tempfile.TemporaryFile()  # noqa: SIM115 - send_file closes it
        try:
            manifest = export(who, current_app.config["SETTINGS"].instance_path, identity, out)
        except SelectionError as exc:
            out.close()
            raise _selection_error(exc) from None
    except ApiError as exc:
        return _fail(identity, exc)
    out.seek(0)
    name = f"salescoach-export-{who.kind}-{manifest['receipt_id'][:8]}.zip"
    resp = send_file(out, mimetype="application/zip", as_attachment=True, download_name=name)
    resp.headers["X-Receipt-Id"] = manifest["receipt_id"]
    return resp


@bp.post("/api/v1/privacy/delete")
def delete_route() -> Any:
    """Erase everything of the subject; answers the stored receipt."""
    identity = admin_identity()
    try:
        body = _body()
        who = _subject(identity, body)
        if who.kind == "tenant" and body.get("confirm") != identity.tenant_id:
            raise ApiError(400, "confirm_required", "to erase the whole org, repeat its id "
                           f"({identity.tenant_id}) in 'confirm'", field="confirm")
        in_crm = body.get("delete_in_crm", False)
        if not isinstance(in_crm, bool):
            raise ApiError(400, "invalid_request", "delete_in_crm must be true or false",
                           field="delete_in_crm")
        settings = current_app.config["SETTINGS"]
        try:
            receipt = erase(who, settings.instance_path, identity, settings=settings,
                            delete_in_crm=in_crm)
        except LiveCallsOpen as exc:
            raise ApiError(409, "calls_live", str(exc), call_ids=exc.call_ids) from None
        except PipelineBusy as exc:
            raise ApiError(409, "work_in_progress", str(exc), **exc.busy) from None
        except SelectionError as exc:
            raise _selection_error(exc) from None
    except ApiError as exc:
        return _fail(identity, exc)
    if _wants_html() and not request.is_json:
        if who.kind == "tenant":
            return Response(f"Erased {identity.tenant_id}; receipt {receipt['id']}.",
                            mimetype="text/plain")
        return redirect(f"/admin?t={token_from_request()}&receipt={receipt['id']}#privacy",
                        code=303)
    return jsonify(receipt=receipt)


@bp.get("/api/v1/privacy/receipts")
def list_receipts() -> Any:
    identity = admin_identity()
    return jsonify(receipts=receipt_store.receipts(request_session(), identity.tenant_id))


@bp.get("/api/v1/privacy/receipts/<receipt_id>")
def get_receipt(receipt_id: str) -> Any:
    identity = admin_identity()
    found = receipt_store.receipt(request_session(), identity.tenant_id, receipt_id[:32])
    if found is None:
        raise ApiError(404, "not_found", "receipt not found")
    return jsonify(receipt=found)


@bp.get("/api/v1/privacy/audit")
def audit_log() -> Any:
    """The audit log, newest first: JSON (``limit`` ≤ 1000, ``before`` an id to page back),
    or every event as CSV with ``format=csv``."""
    identity = admin_identity()
    session = request_session()
    if request.args.get("format") == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(AUDIT_FIELDS)
        before: int | None = None
        while True:
            page = audit.events(session, identity.tenant_id, limit=1000, before_id=before)
            for e in page:
                writer.writerow([json.dumps(e[f], sort_keys=True) if f == "details" else e[f]
                                 for f in AUDIT_FIELDS])
            if len(page) < 1000:
                break
            before = page[-1]["id"]
        return Response(buf.getvalue(), mimetype="text/csv", headers={
            "Content-Disposition": 'attachment; filename="salescoach-audit-log.csv"'})
    limit = _int_arg("limit", 200, 1, 1000)
    before_arg = request.args.get("before")
    before_id = _int_arg("before", 0, 1, 2**31 - 1) if before_arg else None
    return jsonify(events=audit.events(session, identity.tenant_id, limit, before_id))


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    return arg_int(name, default, low, high)
