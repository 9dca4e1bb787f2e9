"""The sandbox Flask app: vendor blueprints, bearer auth, fault injection, admin endpoints."""

from __future__ import annotations

import hmac
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request

from plugin.sandbox import hubspot_api, oauth, salesforce_api
from plugin.sandbox.config import admin_token as config_admin_token
from plugin.sandbox.config import ensure_tls, load_identity, sandbox_paths
from plugin.sandbox.faults import Fault, FaultError, parse_fault
from plugin.sandbox.seed_data import describe_counts, directory, seed
from plugin.sandbox.state import SandboxState, state
from plugin.sandbox.store import Store


def open_state(instance_path: Path) -> SandboxState:
    """Store and identity of the sandbox in ``instance_path``; seeds demo data on first use."""
    paths = sandbox_paths(instance_path)
    ensure_tls(paths)
    ident = load_identity(paths)
    store = Store(paths.db)
    if not store.meta("seeded_at"):
        seed(store, ident)
    return SandboxState(paths=paths, store=store, ident=ident)


def create_sandbox_app(instance_path: Path, admin_token: str = "") -> Flask:
    """The sandbox app; its admin API (``/_sandbox/*`` but ``/_sandbox/health``) wants
    ``Authorization: Bearer <admin token>`` (``config.admin_token``), even in demo mode."""
    app = Flask(__name__)
    app.config["SANDBOX_ADMIN_TOKEN"] = config_admin_token(sandbox_paths(instance_path),
                                                           admin_token)
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["sandbox"] = open_state(instance_path)
    for bp in (oauth.bp, salesforce_api.bp, hubspot_api.bp):
        app.register_blueprint(bp)
    app.register_blueprint(_admin_bp())
    if importlib.util.find_spec("plugin.sandbox.demo_pages") is not None:
        from plugin.sandbox import demo_pages  # written by the CRM entry-points area

        app.register_blueprint(demo_pages.bp)
    app.before_request(_before)
    app.after_request(_after)

    @app.errorhandler(404)
    def _not_found(_exc: Any) -> Response:
        return _vendor_error(404, "The requested resource does not exist", "NOT_FOUND")

    @app.errorhandler(405)
    def _bad_method(_exc: Any) -> Response:
        return _vendor_error(405, f"HTTP method {request.method} not allowed for this resource",
                             "METHOD_NOT_ALLOWED")

    @app.errorhandler(500)
    def _crash(_exc: Any) -> Response:
        return _vendor_error(500, "An unexpected error occurred in the sandbox",
                             "UNKNOWN_EXCEPTION")

    return app


def _vendor(path: str) -> str:
    if path.startswith("/services/"):
        return "salesforce"
    if path.startswith(("/crm/", "/oauth/")):
        return "hubspot"
    return ""


def _vendor_error(status: int, message: str, code: str,
                  retry_after: float | None = None) -> Response:
    vendor = _vendor(request.path)
    if vendor == "salesforce":
        resp = salesforce_api.sf_error(status, code, message)
    elif vendor == "hubspot":
        category = {429: "RATE_LIMITS", 401: "INVALID_AUTHENTICATION",
                    404: "OBJECT_NOT_FOUND"}.get(status, "VALIDATION_ERROR" if status < 500
                                                 else "INTERNAL_ERROR")
        extra: dict[str, Any] = {}
        if status == 429:
            extra = {"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
        resp = hubspot_api.hs_error(status, category, message, **extra)
    else:
        resp = jsonify({"error": {"code": code, "message": message}})
        resp.status_code = status
    if retry_after is not None:
        resp.headers["Retry-After"] = f"{retry_after:g}"
    return resp


def _fault_response(fault: Fault) -> Response:
    status = fault.status
    vendor = _vendor(request.path)
    if fault.message:
        message = fault.message
    elif status == 429:
        message = ("You have reached your ten_secondly_rolling limit." if vendor == "hubspot"
                   else "TotalRequests Limit exceeded.")
    elif status >= 500:
        message = "Service temporarily unavailable; please retry"
    else:
        message = f"Injected error {status}"
    code = {429: "REQUEST_LIMIT_EXCEEDED", 401: "INVALID_SESSION_ID"}.get(
        status, "SERVER_UNAVAILABLE" if status >= 500 else "INJECTED_FAULT")
    return _vendor_error(status, message, code, fault.retry_after)


def _before() -> Response | None:
    g.started = time.monotonic()
    path = request.path
    if path.startswith("/_sandbox"):
        return _admin_auth(path)
    fault = state().faults.take(request.method, path)
    if fault is not None:
        if fault.delay_ms:
            time.sleep(fault.delay_ms / 1000)
        if fault.status:
            g.fault = True
            return _fault_response(fault)
    if path.startswith("/services/data/v"):
        problem = oauth.token_problem("salesforce", oauth._bearer())
        if problem:
            return salesforce_api.sf_error(401, "INVALID_SESSION_ID",
                                           "Session expired or invalid")
    elif path.startswith("/crm/"):
        problem = oauth.token_problem("hubspot", oauth._bearer())
        if problem == "expired":
            return hubspot_api.hs_error(401, "EXPIRED_AUTHENTICATION",
                                        "The OAuth token used to make this call expired.")
        if problem:
            return hubspot_api.hs_error(
                401, "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview")
    return None


def _admin_auth(path: str) -> Response | None:
    """The admin API mints tokens and injects faults: only with the admin token."""
    if path == "/_sandbox/health":
        return None
    expected = current_app.config["SANDBOX_ADMIN_TOKEN"]
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if given and hmac.compare_digest(given.encode(), expected.encode()):
        return None
    resp = jsonify({"error": {"code": "unauthorized", "message":
                              "the sandbox admin API needs Authorization: Bearer <token> "
                              "(the token is in <instance>/sandbox/admin.token)"}})
    resp.status_code = 401
    return resp


def _after(resp: Response) -> Response:
    path = request.path
    if path.startswith("/_sandbox"):
        return resp
    if path.startswith("/services/data/v"):
        salesforce_api.limit_header(resp)
    elif path.startswith("/crm/"):
        hubspot_api.rate_headers(resp, time.time())
    state().faults.record({
        "method": request.method, "path": path, "status": resp.status_code,
        "fault": bool(g.get("fault")), "at": time.time(),
        "ms": round((time.monotonic() - g.get("started", time.monotonic())) * 1000, 1)})
    return resp


def _admin_bp() -> Any:
    from flask import Blueprint

    bp = Blueprint("sandbox_admin", __name__, url_prefix="/_sandbox")

    def error(status: int, message: str) -> Response:
        resp = jsonify({"error": {"code": "bad_request", "message": message}})
        resp.status_code = status
        return resp

    @bp.get("/health")
    def health() -> Response:
        return jsonify({"ok": True, "counts": describe_counts(state().store)})

    @bp.get("/info")
    def info() -> Response:
        ident = state().ident
        public = {k: v for k, v in ident.items() if not k.endswith("secret")}
        return jsonify({"base_url": request.host_url.rstrip("/"), **public})

    @bp.get("/directory")
    def people() -> Response:
        return jsonify({"people": directory(state().ident["sf_org_id"])})

    @bp.get("/faults")
    def list_faults() -> Response:
        return jsonify({"faults": state().faults.active()})

    @bp.post("/faults")
    def add_faults() -> Response:
        body = request.get_json(silent=True)
        items = body if isinstance(body, list) else [body]
        try:
            faults = [parse_fault(item) for item in items]
        except FaultError as exc:
            return error(400, str(exc))
        for f in faults:
            state().faults.add(f)
        resp = jsonify({"faults": state().faults.active()})
        resp.status_code = 201
        return resp

    @bp.delete("/faults")
    def clear_faults() -> Response:
        state().faults.clear()
        return jsonify({"faults": []})

    @bp.post("/tokens/expire")
    def expire_tokens() -> Response:
        body = request.get_json(silent=True) or {}
        if not isinstance(body, dict):
            return error(400, "expected a JSON object like {\"token\": \"…\"} or {}")
        return jsonify({"expired": state().store.expire_tokens(str(body.get("token", "")))})

    @bp.post("/tokens")
    def mint_tokens() -> Response:
        body = request.get_json(silent=True) or {}
        vendor = body.get("vendor") if isinstance(body, dict) else None
        if vendor not in ("salesforce", "hubspot"):
            return error(400, "vendor must be 'salesforce' or 'hubspot'")
        ident = state().ident
        client = ident["sf_client_id"] if vendor == "salesforce" else ident["hs_client_id"]
        tokens = state().store.issue_tokens(vendor, client)
        resp = jsonify(tokens)
        resp.status_code = 201
        return resp

    @bp.post("/reset")
    def reset() -> Response:
        st = state()
        seed(st.store, st.ident)
        st.faults.clear()
        st.faults.clear_log()
        return jsonify({"ok": True, "counts": describe_counts(st.store)})

    @bp.delete("/properties/<object_type>/<name>")
    def drop_property(object_type: str, name: str) -> Response:
        """Simulate a portal where Sales Coach has not created its custom property yet."""
        st = state()
        with st.store.lock:
            props = hubspot_api.custom_properties()
            if props.get(object_type, {}).pop(name, None) is None:
                return error(404, f"no custom property {name} on {object_type}")
            st.store.set_meta("hs_custom_properties", json.dumps(props))
        return jsonify({"deleted": name})

    @bp.get("/activities")
    def activities() -> Response:
        crm = request.args.get("crm", "")
        if crm not in ("", "salesforce", "hubspot"):
            return error(400, "crm must be 'salesforce' or 'hubspot'")
        out = []
        st = state()
        for rec in st.store.created_activities():
            vendor = "salesforce" if rec["obj"] == "Task" else "hubspot"
            if crm and vendor != crm:
                continue
            item: dict[str, Any] = {"crm": vendor, "object": rec["obj"], "id": rec["id"],
                                    "created_at": rec["created_at"],
                                    "updated_at": rec["updated_at"], "data": rec["data"]}
            if vendor == "hubspot":
                item["associations"] = {
                    to: [i for i, _ in st.store.associated(rec["obj"], rec["id"], to)]
                    for to in ("contacts", "companies", "deals")}
            out.append(item)
        return jsonify({"activities": out, "count": len(out)})

    @bp.get("/requests")
    def requests_log() -> Response:
        return jsonify({"requests": state().faults.requests()})

    @bp.delete("/requests")
    def clear_requests() -> Response:
        state().faults.clear_log()
        return jsonify({"requests": []})

    return bp
