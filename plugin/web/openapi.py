"""The OpenAPI 3 document of the HTTP API, served at ``GET /api/v1/openapi.json``.

One declaration per operation, keyed by the Flask rule and method, in ``OPERATIONS``; a
test checks every ``url_map`` rule under ``/api/`` (and the signed CRM entry points) is
described, and schemathesis fuzzes the app against this document.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

bp = Blueprint("openapi", __name__)

STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
BOOL: dict[str, Any] = {"type": "boolean"}
ID64: dict[str, Any] = {"type": "string", "maxLength": 64}


def obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    return schema


def op(summary: str, *, auth: bool = True, query: dict[str, Any] | None = None,
       body: dict[str, Any] | None = None, form: dict[str, Any] | None = None,
       multipart: dict[str, Any] | None = None, headers: dict[str, Any] | None = None,
       ok: int = 200, produces: str = "application/json") -> dict[str, Any]:
    """One operation: its summary, inputs and the answers it may give."""
    spec: dict[str, Any] = {"summary": summary, "parameters": []}
    for name, schema in (query or {}).items():
        spec["parameters"].append({"name": name, "in": "query", "required": False,
                                   "schema": schema})
    for name, schema in (headers or {}).items():
        spec["parameters"].append({"name": name, "in": "header", "required": False,
                                   "schema": schema})
    content: dict[str, Any] = {}
    if body is not None:
        content["application/json"] = {"schema": body}
    if form is not None:
        content["application/x-www-form-urlencoded"] = {"schema": obj(form)}
    if multipart is not None:
        content["multipart/form-data"] = {"schema": obj(multipart)}
    if content:
        spec["requestBody"] = {"required": False, "content": content}
    error = {"schema": {"$ref": "#/components/schemas/Error"}}
    spec["responses"] = {
        str(ok): {"description": "success", "content": {produces: {}}},
        "4XX": {"description": "refused: a JSON error naming the problem",
                "content": {"application/json": error}},
    }
    if auth:
        spec["security"] = [{"bearer": []}]
    return spec


SPEAKERS = {"type": "object", "additionalProperties": {"type": "string", "enum": ["rep",
                                                                                  "customer"]}}
RECORD = {"record_id": ID64, "record_type": {"type": "string", "maxLength": 32}}
LIMIT = {"limit": INT}

# (method, Flask rule) -> operation.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/api/v1/openapi.json"): op("This document", auth=False),
    ("get", "/healthz"): op("Liveness", auth=False),
    ("get", "/readyz"): op("Readiness: the database answers", auth=False),
    ("get", "/api/v1/me"): op("The session's identity"),
    ("post", "/api/v1/session/refresh"): op("A fresh session token"),
    ("post", "/api/v1/session/exchange"): op("A session for a one-time entry code",
                                             auth=False, body=obj({"code": STR}, ("code",))),
    ("post", "/api/v1/popout"): op("A one-time pop-out link", body=obj(RECORD)),
    # calls and reports
    ("get", "/api/v1/calls"): op("The tenant's calls and score trend", query=LIMIT),
    ("get", "/api/v1/calls/<call_id>"): op("One call"),
    ("post", "/api/v1/calls/<call_id>/analyze"): op("Analyse a call again", ok=202),
    ("get", "/api/v1/calls/<call_id>/report"): op("A call's report",
                                                  query={"version": INT, "s": STR}),
    ("get", "/api/v1/calls/<call_id>/report.pdf"): op("A call's report as PDF",
                                                      query={"version": INT, "s": STR},
                                                      produces="application/pdf"),
    ("post", "/api/v1/calls/<call_id>/speakers"): op(
        "Fix who said what", ok=202, body=obj({"swap": BOOL, "turns": SPEAKERS})),
    ("post", "/api/v1/calls/<call_id>/share"): op("A read-only report link", ok=201),
    ("post", "/api/v1/calls/<call_id>/share/revoke"): op("Revoke the call's report links"),
    ("post", "/api/v1/recordings"): op(
        "Upload a recording", ok=202,
        multipart={"file": {"type": "string", "format": "binary"}, **RECORD,
                   "title": {"type": "string", "maxLength": 255}}),
    ("get", "/api/v1/recordings/<recording_id>"): op("A recording's pipeline status"),
    # live
    ("get", "/api/v1/live/calls"): op("Live-coached calls",
                                      query={"status": {"type": "string", "enum": [
                                          "live", "ended", "analysed", "failed"]}}),
    ("get", "/api/v1/live/calls/<call_id>"): op("A live call with turns and nudges"),
    ("post", "/api/v1/live/twilio"): op("A Twilio stream token and TwiML", body=obj(RECORD)),
    ("post", "/api/v1/nudges/<int:nudge_id>/rating"): op(
        "Rate a nudge", body=obj({"rating": {"type": "integer", "enum": [-1, 0, 1]}},
                                 ("rating",))),
    # CRM data
    ("get", "/api/v1/customer"): op("The customer on a CRM record", query=RECORD),
    ("get", "/api/v1/crm/records"): op("Search CRM records",
                                       query={"q": {"type": "string", "minLength": 2,
                                                    "maxLength": 100}, **LIMIT}),
    # admin
    ("get", "/api/v1/admin/connections"): op("CRM connections (admin)"),
    ("get", "/api/v1/admin/playbooks"): op("Playbooks (admin)"),
    ("get", "/api/v1/admin/settings"): op("Tenant settings (admin)"),
    ("put", "/api/v1/admin/settings"): op("Change tenant settings (admin)",
                                          body=obj({"crm_notes_include_coaching": BOOL})),
    ("post", "/api/v1/admin/crm-notes/rewrite"): op("Rewrite CRM call notes (admin)"),
    ("get", "/api/v1/admin/outbox"): op("CRM write-back outbox (admin)",
                                        query={"status": STR}),
    ("post", "/api/v1/admin/outbox/<int:item_id>/retry"): op("Retry an outbox item (admin)",
                                                             ok=202),
    # practice
    ("get", "/api/v1/practice/scenarios"): op("Practice scenarios"),
    ("get", "/api/v1/practice/scenarios/<scenario_id>"): op("One scenario"),
    ("post", "/api/v1/practice/sessions"): op(
        "Start a practice session", ok=201,
        body=obj({"scenario_id": STR, "seed": INT, **RECORD})),
    ("get", "/api/v1/practice/sessions"): op("Practice history",
                                             query={"scenario_id": STR, **LIMIT}),
    ("get", "/api/v1/practice/sessions/<session_id>"): op("One practice session"),
    ("post", "/api/v1/practice/sessions/<session_id>/replies"): op(
        "Reply to the buyer", ok=201, body=obj({"text": STR}, ("text",))),
    ("post", "/api/v1/practice/sessions/<session_id>/replies/stream"): op(
        "Reply, answered as server-sent events", body=obj({"text": STR}, ("text",)),
        produces="text/event-stream"),
    ("post", "/api/v1/practice/sessions/<session_id>/replies/audio"): op(
        "A spoken reply (WAV)", ok=201,
        multipart={"audio": {"type": "string", "format": "binary"}}),
    ("post", "/api/v1/practice/sessions/<session_id>/finish"): op("Finish and score"),
    ("get", "/api/v1/practice/progress"): op("Practice progress",
                                             query={"scenario_id": STR, **LIMIT}),
    ("post", "/api/v1/practice/drills"): op(
        "A free-form drill", ok=201,
        body=obj({"customer_line": STR, "text": STR, "scenario_id": STR, "previous_id": STR},
                 ("customer_line", "text"))),
    ("get", "/api/v1/practice/drills"): op("Past drills", query=LIMIT),
    ("post", "/api/v1/practice/drills/audio"): op(
        "A drill answered by voice (WAV)", ok=201,
        multipart={"audio": {"type": "string", "format": "binary"}, "customer_line": STR,
                   "scenario_id": STR, "previous_id": STR}),
    ("get", "/api/v1/practice/drill-lines"): op("Lines to drill on", query=RECORD),
    ("get", "/api/v1/practice/assignments"): op("My assignments"),
    ("post", "/api/v1/practice/tts"): op(
        "The buyer's line as WAV",
        body=obj({"text": {"type": "string", "maxLength": 400},
                  "engine": {"type": "string", "enum": ["auto", "espeak"]}}, ("text",)),
        produces="audio/wav"),
    ("get", "/api/v1/practice/admin/scenarios"): op("Tenant scenarios (admin)"),
    ("post", "/api/v1/practice/admin/scenarios"): op(
        "Save a scenario (admin)", ok=201, body=obj({"yaml": STR, "form": {"type": "object"}})),
    ("post", "/api/v1/practice/admin/scenarios/preview"): op(
        "Validate a scenario (admin)", body=obj({"yaml": STR, "form": {"type": "object"}})),
    ("delete", "/api/v1/practice/admin/scenarios/<scenario_id>"): op("Delete a scenario"),
    ("post", "/api/v1/practice/admin/assignments"): op(
        "Assign a scenario (admin)", ok=201,
        body=obj({"scenario_id": STR, "user_ids": {"type": "array", "items": INT},
                  "due_date": STR, "note": STR})),
    ("delete", "/api/v1/practice/admin/assignments/<int:assignment_id>"): op(
        "Remove an assignment (admin)"),
    ("get", "/api/v1/practice/admin/team"): op("Team progress (admin)"),
    # privacy (admin); erasure last: it may erase the fuzzing admin itself
    ("get", "/api/v1/privacy/receipts"): op("Export and erasure receipts (admin)"),
    ("get", "/api/v1/privacy/receipts/<receipt_id>"): op("One receipt (admin)"),
    ("get", "/api/v1/privacy/audit"): op("Audit log (admin)", query={
        "limit": INT, "before": INT, "format": {"type": "string", "enum": ["json", "csv"]}}),
    ("post", "/api/v1/privacy/export"): op(
        "Export a contact, rep or the org (zip)", produces="application/zip",
        body=obj({"kind": {"type": "string", "enum": ["contact", "rep", "tenant"]},
                  "id": STR}, ("kind",))),
    ("post", "/api/v1/privacy/delete"): op(
        "Erase a contact, rep or the org", body=obj({
            "kind": {"type": "string", "enum": ["contact", "rep", "tenant"]}, "id": STR,
            "confirm": STR, "delete_in_crm": BOOL}, ("kind",))),
    # signed CRM entry points (verified before anything else is read)
    ("post", "/sf/canvas"): op("Salesforce canvas signed request", auth=False, ok=303,
                               form={"signed_request": STR}, produces="text/html"),
    ("post", "/sf/widget/context"): op(
        "Salesforce LWC Apex callout", auth=False, body={"type": "object"},
        headers={"X-SalesCoach-Signature": STR}),
    ("post", "/hubspot/card/context"): op(
        "HubSpot app card context (signature v3)", auth=False, body={"type": "object"},
        query={"portalId": STR, "userId": STR, "userEmail": STR},
        headers={"X-HubSpot-Signature-v3": STR, "X-HubSpot-Request-Timestamp": STR}),
}

_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def openapi_path(rule: str) -> str:
    """``/a/<int:id>/b`` → ``/a/{id}/b``."""
    return _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule)


def _path_parameters(rule: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 0} if conv == "int" else
             {"type": "string", "minLength": 1, "maxLength": 64}}
            for conv, name in _CONVERTER.findall(rule)]


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for ``app`` (only the rules it really has)."""
    rules = {(m.lower(), r.rule) for r in app.url_map.iter_rules() for m in r.methods or ()}
    paths: dict[str, dict[str, Any]] = {}
    for (method, rule), spec in OPERATIONS.items():
        if (method, rule) not in rules:
            continue
        entry = paths.setdefault(openapi_path(rule), {})
        entry[method] = {**spec, "operationId": f"{method}_{rule}",
                         "parameters": _path_parameters(rule) + spec["parameters"]}
    settings = app.config["SETTINGS"]
    return {
        "openapi": "3.0.3",
        "info": {"title": "Sales Coach API", "version": "1"},
        "servers": [{"url": settings.public_base_url.rstrip("/")}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": obj({"error": obj({"code": STR, "message": STR,
                                                    "details": {"type": "object"}},
                                                   ("code", "message"))}, ("error",))},
        },
    }


@bp.get("/api/v1/openapi.json")
def openapi_json() -> Any:
    return jsonify(document(current_app))
