"""The admin page of a tenant: CRM connections, connect/disconnect, and the coaching playbook.

``GET /admin?t=…`` (admin role) renders the page; playbook uploads are validated with
``plugin.coach.load_playbook`` and a malformed YAML is shown back with its line and reason.
JSON twins live under ``/api/v1/admin/…`` for scripts.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin import audit
from plugin.db import db, request_session
from plugin.models import CrmConnection, Playbook, Tenant, User, as_dict
from plugin.privacy.receipts import receipt, receipts
from plugin.safejson import ID_MAX
from plugin.security import Identity
from plugin.tenancy import get_owned
from plugin.tenant_settings import TENANT_SETTINGS, SettingError, tenant_settings, validate
from plugin.web.auth import token_from_request
from plugin.web.crm_common import KINDS, crm_app, settings
from plugin.web.crm_oauth import admin_identity
from plugin.web.errors import ApiError
from plugin.web.inputs import body_int, body_str, form_int, form_str, json_object

try:  # the contract's import path; the module path while the package is being assembled
    from plugin.coach import PlaybookError, load_playbook
except ImportError:  # pragma: no cover - depends on the coach package's __init__
    from plugin.coach.playbook import PlaybookError, load_playbook

bp = Blueprint("admin", __name__)

MAX_PLAYBOOK_BYTES = 256 * 1024


def _wants_html() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _kinds_for(tenant_id: str) -> tuple[str, ...]:
    """A Salesforce org connects Salesforce, a HubSpot portal HubSpot; demo tenants both."""
    if tenant_id.startswith("sf:"):
        return ("salesforce",)
    if tenant_id.startswith("hs:"):
        return ("hubspot",)
    return KINDS


def connections_of(session: Session, identity: Identity) -> list[dict[str, Any]]:
    rows = {c.kind: c for c in session.scalars(
        select(CrmConnection).where(CrmConnection.tenant_id == identity.tenant_id))}
    out = []
    for kind in _kinds_for(identity.tenant_id):
        conn = rows.get(kind)
        try:
            source = crm_app(settings(), kind).source
        except ApiError as exc:
            source = f"unavailable: {exc.message}"
        item: dict[str, Any] = {"kind": kind, "status": "not connected", "app": source}
        if conn is not None:
            item.update(as_dict(conn, "instance_url", "expires_at", "created_at"))
            item["status"] = conn.status if conn.access_token_enc else "disconnected"
            by = session.get(User, conn.connected_by) if conn.connected_by else None
            item["connected_by"] = by.name if by is not None else ""
        out.append(item)
    return out


def playbooks_of(session: Session, identity: Identity) -> tuple[list[dict[str, Any]], int | None]:
    tenant = session.get(Tenant, identity.tenant_id)
    active = tenant.playbook_id if tenant is not None else None
    rows = session.scalars(select(Playbook).where(Playbook.tenant_id == identity.tenant_id)
                           .order_by(Playbook.id)).all()
    return [{**as_dict(p, "id", "name", "created_at"), "active": p.id == active}
            for p in rows], active


def _render(identity: Identity, status: int = 200, **extra: Any) -> Any:
    session = request_session()
    playbooks, active = playbooks_of(session, identity)
    tenant = session.get(Tenant, identity.tenant_id)
    return render_template(
        "admin.html", identity=identity, token=token_from_request(),
        tenant=tenant, connections=connections_of(session, identity), playbooks=playbooks,
        active_playbook=active, connected=request.args.get("connected", ""),
        disconnected=request.args.get("disconnected", ""), base=settings().public_base_url,
        tenant_settings=tenant_settings(tenant), setting_specs=TENANT_SETTINGS,
        audit_events=audit.events(session, identity.tenant_id, limit=50),
        receipts=receipts(session, identity.tenant_id, limit=20),
        done_receipt=receipt(session, identity.tenant_id, request.args.get("receipt", "")[:32])
        if request.args.get("receipt") else None, **extra), status


def _page_identity() -> Identity | Any:
    try:
        return admin_identity()
    except ApiError as exc:
        if not _wants_html():
            raise
        return render_template("admin_error.html", reason=exc.message, code=exc.code), exc.status


@bp.get("/admin")
def page() -> Any:
    """The admin page (HTML)."""
    identity = _page_identity()
    if not isinstance(identity, Identity):
        return identity
    return _render(identity)


@bp.get("/api/v1/admin/connections")
def api_connections() -> Any:
    identity = admin_identity()
    return jsonify(connections=connections_of(request_session(), identity))


@bp.get("/api/v1/admin/playbooks")
def api_playbooks() -> Any:
    identity = admin_identity()
    playbooks, active = playbooks_of(request_session(), identity)
    return jsonify(playbooks=playbooks, active=active)


def _uploaded_yaml() -> tuple[str, str]:
    """(name, yaml text) from a multipart file ``playbook`` or the ``yaml_text`` field."""
    upload = request.files.get("playbook")
    name = form_str("name", 255)
    if upload is not None and upload.filename:
        raw = upload.read(MAX_PLAYBOOK_BYTES + 1)
        name = name or upload.filename.rsplit(".", 1)[0][:255]
    else:
        text = request.form.get("yaml_text")
        if text is None and request.is_json:
            body = json_object()
            text = body_str(body, "yaml_text", MAX_PLAYBOOK_BYTES, strip=False)
            name = body_str(body, "name", 255) or name
        raw = (text or "").encode()
    if not raw.strip():
        raise ApiError(400, "invalid_playbook", "no playbook: upload a YAML file or paste it")
    if len(raw) > MAX_PLAYBOOK_BYTES:
        raise ApiError(413, "too_large", f"playbook larger than {MAX_PLAYBOOK_BYTES // 1024} KB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_playbook", "playbook is not UTF-8 text") from None
    return name[:255], text


@bp.post("/admin/playbooks")
def upload_playbook() -> Any:
    """Validate and store a playbook (and make it active unless ``activate=0``)."""
    identity = admin_identity()
    try:
        name, text = _uploaded_yaml()
        try:
            parsed = load_playbook(text)
        except PlaybookError as exc:
            raise ApiError(400, "invalid_playbook", str(exc), line=exc.line,
                           reason=exc.reason) from None
    except ApiError as exc:
        if _wants_html():
            return _render(identity, exc.status, upload_error=exc.message,
                           upload_line=exc.details.get("line"), yaml_text=request.form.get(
                               "yaml_text", ""))
        raise
    session = request_session()
    name = name or str(getattr(parsed, "name", "") or "Playbook")
    row = Playbook(tenant_id=identity.tenant_id, name=name, yaml_text=text)
    session.add(row)
    session.flush()
    activate = request.form.get("activate", "1") != "0"
    if activate:
        tenant = session.get(Tenant, identity.tenant_id)
        if tenant is not None:
            tenant.playbook_id = row.id
    audit.record(session, identity.tenant_id, identity, "playbook.upload", f"playbook:{row.id}",
                 activated=activate, bytes=len(text.encode()))
    session.commit()
    if _wants_html():
        return redirect(f"/admin?t={token_from_request()}#playbooks", code=303)
    return jsonify(id=row.id, name=row.name), 201


@bp.get("/admin/playbooks/<playbook_id>.yaml")
def download_playbook(playbook_id: str) -> Any:
    """A playbook's YAML (``default`` = the shipped one), to copy, edit and upload again."""
    identity = admin_identity()
    if playbook_id == "default":
        from plugin.coach.playbook import DEFAULT_PLAYBOOK_PATH

        text, name = DEFAULT_PLAYBOOK_PATH.read_text(encoding="utf-8"), "default"
    elif playbook_id.isascii() and playbook_id.isdigit() and int(playbook_id) <= ID_MAX:
        row = get_owned(request_session(), Playbook, int(playbook_id), identity.tenant_id,
                        "playbook")
        text, name = row.yaml_text, f"playbook-{row.id}"
    else:
        raise ApiError(404, "not_found", "playbook not found")
    return Response(text, mimetype="application/yaml", headers={
        "Content-Disposition": f'attachment; filename="{name}.yaml"'})


@bp.post("/admin/playbooks/active")
def choose_playbook() -> Any:
    """Make one of the tenant's playbooks active (empty id: the shipped default)."""
    identity = admin_identity()
    if request.is_json:
        playbook_id = body_int(json_object(), "playbook_id", lo=1, hi=ID_MAX)
    else:
        playbook_id = form_int("playbook_id", None, lo=1, hi=ID_MAX)
    session = request_session()
    tenant = session.get(Tenant, identity.tenant_id)
    if tenant is None:
        raise ApiError(404, "not_found", "tenant not found")
    if playbook_id:
        tenant.playbook_id = get_owned(session, Playbook, playbook_id, identity.tenant_id,
                                       "playbook").id
    else:
        tenant.playbook_id = None
    audit.record(session, identity.tenant_id, identity, "playbook.activate",
                 f"playbook:{tenant.playbook_id or 'default'}")
    session.commit()
    if _wants_html():
        return redirect(f"/admin?t={token_from_request()}#playbooks", code=303)
    return jsonify(active=tenant.playbook_id)


# Tenant settings ------------------------------------------------------------------------------
# The registry lives in plugin.tenant_settings (the pipeline and the retention job read it too).


@bp.get("/api/v1/admin/settings")
def api_settings() -> Any:
    """The tenant's settings with their descriptions."""
    identity = admin_identity()
    tenant = request_session().get(Tenant, identity.tenant_id)
    return jsonify(settings=tenant_settings(tenant),
                   descriptions={k: v.description for k, v in TENANT_SETTINGS.items()})


def _form_settings() -> dict[str, Any]:
    """The settings of one admin-page form (``group``: writeback or privacy); an unticked
    checkbox sends nothing, which means false."""
    group = request.form.get("group", "writeback")
    fields = {n: st for n, st in TENANT_SETTINGS.items() if st.group == group}
    if not fields:
        raise ApiError(400, "invalid_request", f"unknown settings group {group!r}")
    return {name: st.parse_form(name, request.form.get(name)) for name, st in fields.items()}


@bp.post("/admin/settings")
@bp.put("/api/v1/admin/settings")
def change_settings() -> Any:
    """Change tenant settings: JSON ``{"crm_notes_include_coaching": true}``, or a form of
    one group. Every change is written to the audit log with its old and new value."""
    identity = admin_identity()
    try:
        body = validate(json_object(required=True)) if request.is_json else _form_settings()
    except SettingError as exc:
        if not request.is_json and _wants_html():
            return _render(identity, 400, settings_error=str(exc))
        known = sorted(TENANT_SETTINGS)
        if exc.setting and exc.setting not in TENANT_SETTINGS:
            raise ApiError(400, "unknown_setting", str(exc), known=known) from None
        code = "invalid_setting" if exc.setting else "invalid_request"
        raise ApiError(400, code, str(exc), setting=exc.setting) from None
    session = request_session()
    tenant = session.get(Tenant, identity.tenant_id)
    if tenant is None:
        raise ApiError(404, "not_found", "tenant not found")
    before = tenant_settings(tenant)
    tenant.settings = {**(tenant.settings or {}), **body}
    changed = {k: {"from": before[k], "to": v} for k, v in body.items() if before[k] != v}
    if changed:
        audit.record(session, identity.tenant_id, identity, "settings.change", "tenant",
                     changes=changed)
    session.commit()
    if not request.is_json and _wants_html():
        anchor = "privacy" if request.form.get("group") == "privacy" else "settings"
        return redirect(f"/admin?t={token_from_request()}#{anchor}", code=303)
    return jsonify(settings=tenant_settings(tenant))


@bp.post("/api/v1/admin/crm-notes/rewrite")
def rewrite_crm_notes() -> Any:
    """Rewrite, in place, the org's call activities already in the CRM whose notes are not
    what the current notes and settings give (e.g. written with coaching before); each is
    sent once through the outbox. Answers ``{"queued": n}``."""
    from plugin.pipeline.dispatch import DELIVER, enqueue
    from plugin.pipeline.stages import rewrite_notes

    identity = admin_identity()
    ids = rewrite_notes(identity.tenant_id, settings())
    with db.session_scope() as s:
        audit.record(s, identity.tenant_id, identity, "crm_notes.rewrite", "outbox",
                     queued=len(ids))
    for item_id in ids:
        enqueue(DELIVER, item_id)
    return jsonify(queued=len(ids))
