"""HubSpot CRM v3 subset: objects (contacts, companies, deals, calls, notes) read with
associations, create with associations, batch read, search and update.

Errors use HubSpot's shape ``{"status":"error","message","correlationId","category"}``;
responses carry the ``X-HubSpot-RateLimit-*`` headers.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from plugin.sandbox.state import HS_DAILY_LIMIT, HS_TEN_SECOND_MAX, state
from plugin.sandbox.store import now_iso

bp = Blueprint("sandbox_hubspot", __name__)

OBJECTS = ("contacts", "companies", "deals", "calls", "notes")
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "calls": "call",
            "notes": "note"}
CALL_KEY = "salescoach_call_key"
MAX_BODY = 65536

PROPERTIES: dict[str, set[str]] = {
    "contacts": {"firstname", "lastname", "email", "phone", "jobtitle", "company",
                 "lifecyclestage", "hs_lead_status", "city"},
    "companies": {"name", "domain", "industry", "numberofemployees", "city", "phone"},
    "deals": {"dealname", "dealstage", "pipeline", "amount", "closedate", "hs_is_closed",
              "hubspot_owner_id"},
    "calls": {"hs_timestamp", "hs_call_title", "hs_call_body", "hs_call_duration",
              "hs_call_direction", "hs_call_status", "hs_call_disposition", "hs_call_from_number",
              "hs_call_to_number", "hs_call_recording_url", "hubspot_owner_id"},
    "notes": {"hs_timestamp", "hs_note_body", "hubspot_owner_id"},
}
# Custom properties of a fresh sandbox portal (an installed Sales Coach app has created them);
# ``DELETE /_sandbox/properties/<obj>/<name>`` makes a portal that has not.
DEFAULT_CUSTOM: dict[str, dict[str, dict[str, Any]]] = {
    obj: {CALL_KEY: {"label": "Sales Coach call key", "type": "string", "fieldType": "text",
                     "groupName": f"{SINGULAR[obj]}information", "hasUniqueValue": True,
                     "description": "Idempotency key of the Sales Coach write-back"}}
    for obj in ("calls", "notes")}
READ_ONLY = {"hs_object_id", "createdate", "lastmodifieddate", "hs_createdate",
             "hs_lastmodifieddate"}
DEFAULT_PROPS = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                 "lastname"],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "deals": ["amount", "closedate", "createdate", "dealname", "dealstage",
              "hs_lastmodifieddate", "hs_object_id", "pipeline"],
    "calls": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
    "notes": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
}
BASE_UNIQUE: dict[str, set[str]] = {"contacts": {"email"}}


def custom_properties() -> dict[str, dict[str, dict[str, Any]]]:
    raw = state().store.meta("hs_custom_properties")
    return json.loads(raw) if raw else json.loads(json.dumps(DEFAULT_CUSTOM))


def known_properties(obj: str) -> set[str]:
    return PROPERTIES[obj] | set(custom_properties().get(obj, {}))


def unique_properties(obj: str) -> set[str]:
    custom = {n for n, p in custom_properties().get(obj, {}).items() if p.get("hasUniqueValue")}
    return BASE_UNIQUE.get(obj, set()) | custom
# HUBSPOT_DEFINED association type ids: id -> (from, to)
ASSOCIATION_TYPES: dict[int, tuple[str, str]] = {
    194: ("calls", "contacts"), 182: ("calls", "companies"), 206: ("calls", "deals"),
    202: ("notes", "contacts"), 190: ("notes", "companies"), 214: ("notes", "deals"),
    279: ("contacts", "companies"), 4: ("contacts", "deals"), 3: ("deals", "contacts"),
    341: ("deals", "companies"), 342: ("companies", "deals"),
}
CALL_DIRECTIONS = {"INBOUND", "OUTBOUND"}
CALL_STATUSES = {"BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED",
                 "IN_PROGRESS", "MISSED", "NO_ANSWER", "QUEUED", "RINGING"}
DISPOSITIONS = {
    "9d9162e7-6cf3-4944-bf63-4dff82258764": "Busy",
    "f240bbac-87c9-4f6e-bf70-924b57d47db7": "Connected",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": "Left live message",
    "b2cf5968-551e-4856-9783-52b3da59a7d0": "Left voicemail",
    "73a0d17f-1163-4015-bdd5-ec830791da20": "No answer",
    "17b47fee-58de-441e-a44c-c6300d46f273": "Wrong number",
}


class HsError(Exception):
    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.category, self.message, self.extra = status, category, message, extra


def hs_error(status: int, category: str, message: str, **extra: Any) -> Response:
    resp = jsonify({"status": "error", "message": message,
                    "correlationId": str(uuid.uuid4()), "category": category, **extra})
    resp.status_code = status
    return resp


@bp.errorhandler(HsError)
def _on_hs_error(exc: HsError) -> Response:
    return hs_error(exc.status, exc.category, exc.message, **exc.extra)


def rate_headers(resp: Response, now: float) -> None:
    window, daily = state().count_hs(now)
    resp.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = "10000"
    resp.headers["X-HubSpot-RateLimit-Max"] = str(HS_TEN_SECOND_MAX)
    resp.headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, HS_TEN_SECOND_MAX - window))
    resp.headers["X-HubSpot-RateLimit-Daily"] = str(HS_DAILY_LIMIT)
    resp.headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, HS_DAILY_LIMIT - daily))


def _obj(object_type: str) -> str:
    if object_type not in OBJECTS:
        raise HsError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
    return object_type


def _not_found(rid: str) -> HsError:
    return HsError(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.",
                   context={"id": [rid]})


def render(obj: str, rec: dict[str, Any], props: list[str] | None,
           assoc: list[str] | None = None) -> dict[str, Any]:
    data = rec["data"]
    computed = {"hs_object_id": rec["id"], "createdate": rec["created_at"],
                "lastmodifieddate": rec["updated_at"], "hs_createdate": rec["created_at"],
                "hs_lastmodifieddate": rec["updated_at"]}
    names = DEFAULT_PROPS[obj] + [p for p in (props or []) if p not in DEFAULT_PROPS[obj]]
    out_props: dict[str, Any] = {}
    for name in names:
        if name in computed and (name in DEFAULT_PROPS[obj] or name in (props or [])):
            out_props[name] = computed[name]
        else:
            value = data.get(name)
            out_props[name] = None if value is None else str(value)
    out: dict[str, Any] = {"id": rec["id"], "properties": out_props,
                           "createdAt": rec["created_at"], "updatedAt": rec["updated_at"],
                           "archived": False}
    if assoc:
        assocs: dict[str, Any] = {}
        for to in assoc:
            to = to.strip().lower()
            to_obj = to if to in OBJECTS else to + "s" if to + "s" in OBJECTS else \
                "companies" if to == "company" else ""
            if not to_obj:
                continue  # HubSpot ignores association types that do not exist
            linked = state().store.associated(obj, rec["id"], to_obj)
            if linked:
                label = f"{SINGULAR[obj]}_to_{SINGULAR[to_obj]}"
                assocs[to_obj] = {"results": [{"id": i, "type": label} for i, _ in linked]}
        if assocs:
            out["associations"] = assocs
    return out


def _list_arg(name: str) -> list[str]:
    out: list[str] = []
    for raw in request.args.getlist(name):
        out += [p.strip() for p in raw.split(",") if p.strip()]
    return out


def _lookup(obj: str, rid: str, id_property: str = "") -> dict[str, Any] | None:
    store = state().store
    if id_property and id_property != "hs_object_id":
        if id_property not in unique_properties(obj):
            raise HsError(400, "VALIDATION_ERROR",
                          f"Property {id_property} is not a unique identifier property for "
                          f"{obj}")
        return store.find(obj, id_property, rid)
    return store.get(obj, rid)


@bp.get("/crm/v3/objects/<object_type>/<rid>")
def get_object(object_type: str, rid: str) -> Response:
    obj = _obj(object_type)
    rec = _lookup(obj, rid, request.args.get("idProperty", ""))
    if rec is None:
        raise _not_found(rid)
    return jsonify(render(obj, rec, _list_arg("properties"), _list_arg("associations")))


@bp.get("/crm/v3/objects/<object_type>")
def list_objects(object_type: str) -> Response:
    obj = _obj(object_type)
    try:
        limit = min(100, max(1, int(request.args.get("limit", "10"))))
        after = int(request.args.get("after", "0"))
    except ValueError:
        raise HsError(400, "VALIDATION_ERROR", "limit and after must be integers") from None
    recs = state().store.all(obj)
    page = recs[after: after + limit]
    body: dict[str, Any] = {"results": [render(obj, r, _list_arg("properties"),
                                               _list_arg("associations")) for r in page]}
    if after + limit < len(recs):
        body["paging"] = {"next": {"after": str(after + limit)}}
    return jsonify(body)


@bp.post("/crm/v3/objects/<object_type>/batch/read")
def batch_read(object_type: str) -> Response:
    obj = _obj(object_type)
    body = _json()
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) and "id" in i for i in inputs):
        raise HsError(400, "VALIDATION_ERROR", "inputs must be a list of {\"id\": …}")
    if len(inputs) > 100:
        raise HsError(400, "VALIDATION_ERROR", "Batch read is limited to 100 inputs")
    props = body.get("properties") or []
    started = now_iso()
    results, missing = [], []
    for item in inputs:
        rec = _lookup(obj, str(item["id"]), str(body.get("idProperty") or ""))
        if rec is None:
            missing.append(str(item["id"]))
        else:
            results.append(render(obj, rec, props))
    out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                           "completedAt": now_iso()}
    if missing:
        out["numErrors"] = 1
        out["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                          "message": "Could not get some " + obj + " objects, they may be "
                          "deleted or not exist.", "context": {"ids": missing}}]
    resp = jsonify(out)
    resp.status_code = 207 if missing else 200
    return resp


def _json() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise HsError(400, "VALIDATION_ERROR", "Invalid input JSON: expected a JSON object")
    return body


def _invalid(obj: str, problems: list[dict[str, str]]) -> HsError:
    return HsError(400, "VALIDATION_ERROR",
                   "Property values were not valid: " + json.dumps(problems),
                   errors=[{"message": p["message"], "code": p["error"],
                            "context": {"propertyName": [p["name"]]}} for p in problems])


def _problem(name: str, error: str, message: str) -> dict[str, str]:
    return {"isValid": "false", "message": message, "error": error, "name": name,
            "localizedErrorMessage": message}


def _check_timestamp(value: str) -> bool:
    if value.isdigit():
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def validate_properties(obj: str, props: Any, *, creating: bool,
                        current_id: str = "") -> dict[str, str]:
    if not isinstance(props, dict):
        raise HsError(400, "VALIDATION_ERROR", "properties must be an object of name: value")
    problems: list[dict[str, str]] = []
    clean: dict[str, str] = {}
    for name, raw in props.items():
        if name in READ_ONLY:
            problems.append(_problem(name, "READ_ONLY_VALUE",
                                     f"{name} is a read only property; its value cannot be set."))
            continue
        if name not in known_properties(obj):
            problems.append(_problem(name, "PROPERTY_DOESNT_EXIST",
                                     f'Property "{name}" does not exist'))
            continue
        value = "" if raw is None else str(raw)
        if name == "hs_timestamp" and not _check_timestamp(value):
            problems.append(_problem(name, "INVALID_DATE",
                                     f"{value!r} is not a valid datetime for hs_timestamp; use "
                                     "ISO 8601 or epoch milliseconds"))
        elif name == "hs_call_duration" and value and not value.isdigit():
            problems.append(_problem(name, "INVALID_INTEGER",
                                     f"{value!r} is not a valid integer (milliseconds)"))
        elif name == "hs_call_direction" and value and value not in CALL_DIRECTIONS:
            problems.append(_problem(name, "INVALID_OPTION",
                                     f"{value!r} was not one of the allowed options: "
                                     + ", ".join(sorted(CALL_DIRECTIONS))))
        elif name == "hs_call_status" and value and value not in CALL_STATUSES:
            problems.append(_problem(name, "INVALID_OPTION",
                                     f"{value!r} was not one of the allowed options: "
                                     + ", ".join(sorted(CALL_STATUSES))))
        elif name == "hs_call_disposition" and value and value not in DISPOSITIONS:
            problems.append(_problem(name, "INVALID_OPTION",
                                     f"{value!r} is not a call outcome of this portal"))
        elif name in ("hs_call_body", "hs_note_body") and len(value) > MAX_BODY:
            problems.append(_problem(name, "MAX_CHARACTERS",
                                     f"{name} has {len(value)} characters, more than the "
                                     f"{MAX_BODY} allowed"))
        clean[name] = value
    if creating and obj in ("calls", "notes") and not clean.get("hs_timestamp"):
        problems.append(_problem("hs_timestamp", "REQUIRED", "hs_timestamp is required"))
    if problems:
        raise _invalid(obj, problems)
    for name in unique_properties(obj):
        if clean.get(name):
            other = state().store.find(obj, name, clean[name])
            if other is not None and other["id"] != current_id:
                raise HsError(409, "CONFLICT",
                              f"A {SINGULAR[obj]} with {name}={clean[name]} already exists. "
                              f"Existing ID: {other['id']}", context={"id": [other["id"]]})
    return clean


def _associations(obj: str, raw: Any) -> list[tuple[str, str, int]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise HsError(400, "VALIDATION_ERROR", "associations must be a list")
    out: list[tuple[str, str, int]] = []
    for item in raw:
        to = item.get("to") if isinstance(item, dict) else None
        types = item.get("types") if isinstance(item, dict) else None
        if not isinstance(to, dict) or "id" not in to or not isinstance(types, list) or not types:
            raise HsError(400, "VALIDATION_ERROR",
                          "each association needs to.id and a non-empty types list")
        for t in types:
            if not isinstance(t, dict):
                raise HsError(400, "VALIDATION_ERROR", "association types must be objects")
            category = t.get("associationCategory")
            type_id = t.get("associationTypeId")
            if category != "HUBSPOT_DEFINED" or type_id not in ASSOCIATION_TYPES:
                raise HsError(400, "VALIDATION_ERROR",
                              f"association type {category}/{type_id} does not exist")
            frm, to_obj = ASSOCIATION_TYPES[type_id]
            if frm != obj:
                raise HsError(400, "VALIDATION_ERROR",
                              f"association type {type_id} links {frm} to {to_obj}, not {obj}")
            if state().store.get(to_obj, str(to["id"])) is None:
                raise HsError(400, "VALIDATION_ERROR",
                              f"One or more associations are invalid: {SINGULAR[to_obj]} "
                              f"{to['id']} does not exist",
                              context={"id": [str(to["id"])]})
            out.append((to_obj, str(to["id"]), int(type_id)))
    return out


def new_hs_id() -> str:
    return str(90_000_000_000 + secrets.randbelow(9_000_000_000))


@bp.post("/crm/v3/objects/<object_type>")
def create_object(object_type: str) -> Response:
    obj = _obj(object_type)
    body = _json()
    st = state()
    with st.store.lock:  # validation (incl. uniqueness) and write are atomic
        props = validate_properties(obj, body.get("properties"), creating=True)
        links = _associations(obj, body.get("associations"))
        rid = new_hs_id()
        with st.store.tx() as c:
            st.store.insert(obj, rid, props, conn=c)
            for to_obj, to_id, type_id in links:
                st.store.associate(obj, rid, to_obj, to_id, type_id, conn=c)
        rec = st.store.get(obj, rid)
    assert rec is not None
    resp = jsonify(render(obj, rec, sorted(props)))
    resp.status_code = 201
    return resp


@bp.patch("/crm/v3/objects/<object_type>/<rid>")
def update_object(object_type: str, rid: str) -> Response:
    obj = _obj(object_type)
    body = _json()
    st = state()
    with st.store.lock:
        rec = _lookup(obj, rid, request.args.get("idProperty", ""))
        if rec is None:
            raise _not_found(rid)
        props = validate_properties(obj, body.get("properties"), creating=False,
                                    current_id=rec["id"])
        st.store.update(obj, rec["id"], {**rec["data"], **props})
        rec = st.store.get(obj, rec["id"])
    assert rec is not None
    return jsonify(render(obj, rec, sorted(props)))


@bp.delete("/crm/v3/objects/<object_type>/<rid>")
def archive_object(object_type: str, rid: str) -> Response:
    """HubSpot's archive: 204, and 204 again for an id already gone (as HubSpot answers)."""
    obj = _obj(object_type)
    st = state()
    with st.store.lock:
        rec = _lookup(obj, rid, "")
        if rec is not None:
            with st.store.tx() as c:
                c.execute("DELETE FROM records WHERE obj=? AND id=?", (obj, rec["id"]))
                c.execute("DELETE FROM associations WHERE (from_obj=? AND from_id=?) OR "
                          "(to_obj=? AND to_id=?)", (obj, rec["id"], obj, rec["id"]))
    return Response(status=204)


SEARCH_OPS = {"EQ", "NEQ", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "GT", "GTE", "LT",
              "LTE", "CONTAINS_TOKEN"}


def _filter_ok(obj: str, rec: dict[str, Any], f: dict[str, Any]) -> bool:
    name = str(f.get("propertyName", ""))
    op = str(f.get("operator", "EQ"))
    if op not in SEARCH_OPS:
        raise HsError(400, "VALIDATION_ERROR", f"operator {op} is not supported")
    if name.startswith("associations."):
        to = name.split(".", 1)[1]
        to_obj = to + "s" if to + "s" in OBJECTS else ("companies" if to == "company" else to)
        ids = {i for i, _ in state().store.associated(obj, rec["id"], to_obj)}
        return str(f.get("value", "")) in ids if op == "EQ" else str(f.get("value", "")) not in ids
    if name == "hs_object_id":
        value: Any = rec["id"]
    elif name in known_properties(obj) or name in READ_ONLY:
        value = rec["data"].get(name)
    else:
        raise HsError(400, "VALIDATION_ERROR",
                      f"There was a problem with the request: property {name} does not exist")
    value = None if value is None else str(value)
    target = f.get("value")
    target = None if target is None else str(target)
    if op == "HAS_PROPERTY":
        return value not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return value in (None, "")
    if op == "EQ":
        return value is not None and target is not None and value.lower() == target.lower()
    if op == "NEQ":
        return value != target
    if op in ("IN", "NOT_IN"):
        values = [str(v).lower() for v in f.get("values") or []]
        hit = value is not None and value.lower() in values
        return hit if op == "IN" else not hit
    if op == "CONTAINS_TOKEN":
        return value is not None and target is not None and target.strip("*").lower() in \
            value.lower()
    try:
        a, b = float(value or "nan"), float(target or "nan")
    except ValueError:
        a, b = value or "", target or ""  # type: ignore[assignment]
    return bool({"GT": a > b, "GTE": a >= b, "LT": a < b, "LTE": a <= b}[op])


# Default searchable properties of the ``query`` field of a search, per object (HubSpot's).
QUERY_PROPERTIES = {"contacts": ("firstname", "lastname", "email", "phone", "company"),
                    "companies": ("name", "domain", "phone"),
                    "deals": ("dealname", "pipeline", "dealstage"),
                    "calls": ("hs_call_title", "hs_call_body"), "notes": ("hs_note_body",)}


def _query_ok(obj: str, rec: dict[str, Any], query: str) -> bool:
    """HubSpot's ``query``: every word is a prefix of a word of a default searchable
    property (case-insensitive)."""
    tokens: list[str] = []
    for name in QUERY_PROPERTIES.get(obj, ()):
        tokens += re.findall(r"[\w@.'+-]+", str(rec["data"].get(name) or "").lower())
    return all(any(t.startswith(w) for t in tokens) for w in query.lower().split())


@bp.post("/crm/v3/objects/<object_type>/search")
def search(object_type: str) -> Response:
    obj = _obj(object_type)
    body = _json()
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > 5:
        raise HsError(400, "VALIDATION_ERROR", "filterGroups must be a list of at most 5 groups")
    recs = state().store.all(obj)
    if groups:
        recs = [r for r in recs if any(all(_filter_ok(obj, r, f) for f in g.get("filters", []))
                                       for g in groups)]
    query = body.get("query")
    if query is not None:
        if not isinstance(query, str) or len(query) > 3000:
            raise HsError(400, "VALIDATION_ERROR", "query must be a string of at most 3000 "
                          "characters")
        recs = [r for r in recs if _query_ok(obj, r, query)]
    for s in reversed(body.get("sorts") or []):
        name = s.get("propertyName", "") if isinstance(s, dict) else str(s).lstrip("-")
        desc = (s.get("direction") == "DESCENDING") if isinstance(s, dict) else \
            str(s).startswith("-")
        key_name = "created_at" if name in ("createdate", "hs_createdate") else ""
        def sort_key(r: dict[str, Any], n: str = name, k: str = key_name) -> str:
            return str(r[k] if k else r["data"].get(n) or "")

        recs.sort(key=sort_key, reverse=desc)
    try:
        limit = min(200, max(1, int(body.get("limit") or 10)))
        after = int(body.get("after") or 0)
    except (TypeError, ValueError):
        raise HsError(400, "VALIDATION_ERROR", "limit and after must be integers") from None
    page = recs[after: after + limit]
    out: dict[str, Any] = {"total": len(recs),
                           "results": [render(obj, r, body.get("properties") or [])
                                       for r in page]}
    if after + limit < len(recs):
        out["paging"] = {"next": {"after": str(after + limit)}}
    return jsonify(out)


# Properties API (custom properties such as the unique call key) ---------------------------
PROPERTY_TYPES = {"string", "number", "date", "datetime", "enumeration", "bool"}


def _property_json(obj: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    stamp = state().store.meta("seeded_at") or now_iso()
    return {"name": name, "label": spec.get("label", name), "type": spec.get("type", "string"),
            "fieldType": spec.get("fieldType", "text"), "groupName": spec.get("groupName", ""),
            "description": spec.get("description", ""), "options": [], "displayOrder": -1,
            "calculated": False, "externalOptions": False, "hasUniqueValue":
            bool(spec.get("hasUniqueValue")), "hidden": False, "formField": False,
            "archived": False, "createdAt": stamp, "updatedAt": stamp,
            "modificationMetadata": {"archivable": True, "readOnlyDefinition": False,
                                     "readOnlyValue": False}}


@bp.get("/crm/v3/properties/<object_type>/<name>")
def get_property(object_type: str, name: str) -> Response:
    obj = _obj(object_type)
    spec = custom_properties().get(obj, {}).get(name)
    if spec is None:
        if name in PROPERTIES[obj]:
            spec = {"label": name}
        else:
            raise HsError(404, "OBJECT_NOT_FOUND",
                          f"Unable to find property {name} for object type {obj}")
    return jsonify(_property_json(obj, name, spec))


@bp.post("/crm/v3/properties/<object_type>")
def create_property(object_type: str) -> Response:
    obj = _obj(object_type)
    body = _json()
    missing = [f for f in ("name", "label", "type", "fieldType", "groupName") if not body.get(f)]
    if missing:
        raise HsError(400, "VALIDATION_ERROR",
                      f"Missing required field(s) for a property: {', '.join(missing)}")
    name = str(body["name"])
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,99}", name):
        raise HsError(400, "VALIDATION_ERROR",
                      f"Property name {name!r} must be lower case letters, digits and _")
    if body["type"] not in PROPERTY_TYPES:
        raise HsError(400, "VALIDATION_ERROR", f"Unknown property type {body['type']!r}")
    st = state()
    with st.store.lock:
        props = custom_properties()
        if name in props.get(obj, {}) or name in PROPERTIES[obj]:
            raise HsError(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
        spec: dict[str, Any] = {k: body[k] for k in ("label", "type", "fieldType", "groupName")}
        spec["hasUniqueValue"] = bool(body.get("hasUniqueValue"))
        spec["description"] = str(body.get("description") or "")
        props.setdefault(obj, {})[name] = spec
        st.store.set_meta("hs_custom_properties", json.dumps(props))
    resp = jsonify(_property_json(obj, name, spec))
    resp.status_code = 201
    return resp
