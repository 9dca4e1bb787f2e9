"""Salesforce REST API subset: query (SOQL), sobject get/create/update/upsert, describe.

Responses and errors follow Salesforce's shapes: records carry ``attributes``; errors are a
list of ``{"message", "errorCode", "fields"?}``; every response has ``Sforce-Limit-Info``.
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, request

from plugin.sandbox.soql import SoqlError, parse, run
from plugin.sandbox.sosl import matches as sosl_matches
from plugin.sandbox.sosl import parse_search
from plugin.sandbox.state import SF_DAILY_LIMIT, state

bp = Blueprint("sandbox_salesforce", __name__)

API_VERSION_RE = re.compile(r"^v(\d{2})\.0$")
PREFIX = {"Account": "001", "Contact": "003", "Lead": "00Q", "Opportunity": "006",
          "Task": "00T", "User": "005"}
OBJ_BY_PREFIX = {v: k for k, v in PREFIX.items()}
CALL_KEY_FIELD = "SalesCoach_Call_Key__c"


def _f(ftype: str, length: int = 0, *, create: bool = True, update: bool = True,
       required: bool = False, picklist: tuple[str, ...] = (), refs: tuple[str, ...] = (),
       external: bool = False, label: str = "") -> dict[str, Any]:
    return {"type": ftype, "length": length, "createable": create, "updateable": update,
            "required": required, "picklist": picklist, "referenceTo": refs,
            "externalId": external, "label": label}


_SYSTEM = {"Id": _f("id", 18, create=False, update=False),
           "CreatedDate": _f("datetime", create=False, update=False),
           "LastModifiedDate": _f("datetime", create=False, update=False),
           "SystemModstamp": _f("datetime", create=False, update=False),
           "OwnerId": _f("reference", 18, refs=("User",), label="Owner ID")}
_PERSON = {"FirstName": _f("string", 40), "LastName": _f("string", 80, required=True),
           "Name": _f("string", 121, create=False, update=False), "Title": _f("string", 128),
           "Email": _f("email", 80), "Phone": _f("phone", 40)}

SCHEMA: dict[str, dict[str, dict[str, Any]]] = {
    "User": {**_SYSTEM, "Name": _f("string", 121, create=False, update=False),
             "Email": _f("email", 128), "Username": _f("string", 80)},
    "Account": {**_SYSTEM, "Name": _f("string", 255, required=True),
                "Industry": _f("picklist", 255), "NumberOfEmployees": _f("int"),
                "Website": _f("url", 255), "BillingCity": _f("string", 40)},
    "Contact": {**_SYSTEM, **_PERSON,
                "AccountId": _f("reference", 18, refs=("Account",), label="Account ID")},
    "Lead": {**_SYSTEM, **_PERSON, "Company": _f("string", 255, required=True),
             "Status": _f("picklist", 255), "Industry": _f("picklist", 255)},
    "Opportunity": {**_SYSTEM, "Name": _f("string", 120, required=True),
                    "StageName": _f("picklist", 255, required=True),
                    "Amount": _f("currency"), "CloseDate": _f("date", required=True),
                    "Probability": _f("percent"),
                    "IsClosed": _f("boolean", create=False, update=False),
                    "IsWon": _f("boolean", create=False, update=False),
                    "AccountId": _f("reference", 18, refs=("Account",), label="Account ID")},
    "Task": {**_SYSTEM, "Subject": _f("combobox", 255),
             "TaskSubtype": _f("picklist", 40, update=False, label="Task Subtype",
                               picklist=("Task", "Email", "ListEmail", "Cadence", "Call",
                                         "LinkedIn")),
             "Type": _f("picklist", 40, picklist=("Call", "Email", "Meeting", "Other")),
             "CallType": _f("picklist", 40, label="Call Type",
                            picklist=("Inbound", "Outbound", "Internal")),
             "CallDurationInSeconds": _f("int", label="Call Duration"),
             "CallDisposition": _f("string", 255, label="Call Result"),
             "Description": _f("textarea", 32000, label="Comments"),
             "ActivityDate": _f("date", label="Due Date Only"),
             "Status": _f("picklist", 40, required=True,
                          picklist=("Not Started", "In Progress", "Completed",
                                    "Waiting on someone else", "Deferred")),
             "Priority": _f("picklist", 40, picklist=("High", "Normal", "Low")),
             "IsClosed": _f("boolean", create=False, update=False),
             "WhoId": _f("reference", 18, refs=("Contact", "Lead"), label="Contact/Lead ID"),
             "WhatId": _f("reference", 18, refs=("Account", "Opportunity"),
                          label="Opportunity/Account ID"),
             CALL_KEY_FIELD: _f("string", 255, external=True, label="Sales Coach Call Key")},
}
RELATIONS = {"Account": "AccountId", "Who": "WhoId", "What": "WhatId", "Owner": "OwnerId"}


class SfError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    resp = jsonify([body])
    resp.status_code = status
    return resp


@bp.errorhandler(SfError)
def _on_sf_error(exc: SfError) -> Response:
    return sf_error(exc.status, exc.code, exc.message, exc.fields)


def limit_header(resp: Response) -> None:
    used = state().count_sf()
    resp.headers["Sforce-Limit-Info"] = f"api-usage={used}/{SF_DAILY_LIMIT}"


def _check_version(version: str) -> None:
    m = API_VERSION_RE.match(version)
    if not m or not 20 <= int(m.group(1)) <= 66:
        raise SfError(404, "NOT_FOUND", "The requested resource does not exist")


def _schema(obj: str) -> dict[str, dict[str, Any]]:
    if obj not in SCHEMA:
        raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
    return SCHEMA[obj]


def new_sf_id(obj: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return PREFIX[obj] + "".join(secrets.choice(alphabet) for _ in range(15))


def flat(obj: str, rec: dict[str, Any]) -> dict[str, Any]:
    """The record's fields including computed ones (Id, Name, IsClosed, dates)."""
    d = dict(rec["data"])
    d["Id"] = rec["id"]
    d["CreatedDate"] = _sf_datetime(rec["created_at"])
    d["LastModifiedDate"] = d["SystemModstamp"] = _sf_datetime(rec["updated_at"])
    if obj in ("Contact", "Lead"):
        d["Name"] = " ".join(x for x in (d.get("FirstName"), d.get("LastName")) if x)
    if obj == "Task":
        d["IsClosed"] = d.get("Status") == "Completed"
    if obj == "User":
        d.setdefault("Name", "Dana Demo")
    return d


def _sf_datetime(iso: str) -> str:
    # Salesforce formats datetimes as 2026-11-03T14:05:00.000+0000.
    return iso.replace("Z", "+0000")


def find_any(rid: str) -> tuple[str, dict[str, Any]] | None:
    obj = OBJ_BY_PREFIX.get(rid[:3])
    if obj is None:
        return None
    rec = state().store.get(obj, rid)
    return (obj, rec) if rec else None


def render(obj: str, d: dict[str, Any], version: str,
           fields: list[str] | None = None) -> dict[str, Any]:
    """A flat record in Salesforce's response shape, with nested relationship fields."""
    url = f"/services/data/{version}/sobjects/{obj}/{d['Id']}"
    out: dict[str, Any] = {"attributes": {"type": obj, "url": url}}
    names = fields if fields is not None else [f for f in SCHEMA[obj] if f in d or f == "Id"]
    for name in names:
        if "." in name:
            rel, sub = name.split(".", 1)
            target_id = d.get(RELATIONS.get(rel, rel + "Id"))
            found = find_any(target_id) if target_id else None
            if found is None:
                out[rel] = None
            else:
                tobj, trec = found
                nested = out.get(rel) or {"attributes": {
                    "type": tobj, "url": f"/services/data/{version}/sobjects/{tobj}/{trec['id']}"}}
                nested[sub] = flat(tobj, trec).get(sub)
                out[rel] = nested
        else:
            out[name] = d.get(name)
    return out


def _resolve(obj: str) -> Any:
    def resolve(row: dict[str, Any], name: str) -> Any:
        if "." in name:
            rel, sub = name.split(".", 1)
            target_id = row.get(RELATIONS.get(rel, rel + "Id"))
            found = find_any(target_id) if target_id else None
            return flat(*found).get(sub) if found else None
        return row.get(name)
    return resolve


def _validate_field_names(obj: str, names: list[str]) -> None:
    schema = SCHEMA[obj]
    for name in names:
        base = name.split(".", 1)[0]
        ok = (name in schema) if "." not in name else (
            RELATIONS.get(base, base + "Id") in schema)
        if not ok:
            raise SfError(400, "INVALID_FIELD",
                          f"\nSELECT {name} FROM {obj}\n       ^\nERROR at Row:1:Column:8\n"
                          f"No such column '{name}' on entity '{obj}'. If you are attempting to "
                          "use a custom field, be sure to append the '__c' after the custom "
                          "field name. Please reference your WSDL or the describe call for the "
                          "appropriate names.")


# Routes ----------------------------------------------------------------------------------
@bp.get("/services/data")
@bp.get("/services/data/")
def versions() -> Response:
    return jsonify([{"label": f"v{v}", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                    for v in range(58, 63)])


@bp.get("/services/data/<version>/query")
@bp.get("/services/data/<version>/query/")
def query(version: str) -> Response:
    _check_version(version)
    text = request.args.get("q", "")
    if not text:
        raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
    try:
        q = parse(text)
    except SoqlError as exc:
        raise SfError(400, exc.code, exc.message) from None
    if q.obj not in SCHEMA:
        raise SfError(400, "INVALID_TYPE",
                      f"\nSELECT {', '.join(q.fields)} FROM {q.obj}\n       ^\nERROR at Row:1:"
                      f"Column:{len('SELECT ' + ', '.join(q.fields)) + 7}\nsObject type "
                      f"'{q.obj}' is not supported.")
    _validate_field_names(q.obj, q.fields + [c.field for c in q.where] + [o[0] for o in q.order])
    rows = [flat(q.obj, r) for r in state().store.all(q.obj)]
    recs = [render(q.obj, r, version, q.fields) for r in run(q, rows, _resolve(q.obj))]
    return jsonify({"totalSize": len(recs), "done": True, "records": recs})


@bp.get("/services/data/<version>/search")
@bp.get("/services/data/<version>/search/")
def search(version: str) -> Response:
    """SOSL subset (``plugin.sandbox.sosl``): ``{"searchRecords": [...]}``."""
    _check_version(version)
    text = request.args.get("q", "")
    if not text:
        raise SfError(400, "MALFORMED_SEARCH", "A search string has to be specified")
    try:
        parsed = parse_search(text)
    except SoqlError as exc:
        raise SfError(400, exc.code, exc.message) from None
    found: list[dict[str, Any]] = []
    for ret in parsed.returning:
        q = ret.query
        _validate_field_names(q.obj, q.fields + [c.field for c in q.where]
                              + [o[0] for o in q.order])
        rows = [r for r in (flat(q.obj, rec) for rec in state().store.all(q.obj))
                if sosl_matches(parsed, q.obj, r)]
        found += [render(q.obj, r, version, q.fields) for r in run(q, rows, _resolve(q.obj))]
    if parsed.limit is not None:
        found = found[: parsed.limit]
    return jsonify({"searchRecords": found})


@bp.get("/services/data/<version>/sobjects")
@bp.get("/services/data/<version>/sobjects/")
def describe_global(version: str) -> Response:
    _check_version(version)
    return jsonify({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
        {"name": o, "label": o, "keyPrefix": PREFIX[o], "createable": True, "queryable": True,
         "urls": {"sobject": f"/services/data/{version}/sobjects/{o}"}} for o in SCHEMA]})


@bp.get("/services/data/<version>/sobjects/<obj>/describe")
@bp.get("/services/data/<version>/sobjects/<obj>/describe/")
def describe(version: str, obj: str) -> Response:
    _check_version(version)
    schema = _schema(obj)
    fields = []
    for name, f in schema.items():
        fields.append({"name": name, "label": f["label"] or name, "type": f["type"],
                       "length": f["length"], "createable": f["createable"],
                       "updateable": f["updateable"], "nillable": not f["required"],
                       "externalId": f["externalId"], "unique": f["externalId"],
                       "referenceTo": list(f["referenceTo"]),
                       "picklistValues": [{"value": v, "label": v, "active": True}
                                          for v in f["picklist"]],
                       "restrictedPicklist": bool(f["picklist"])})
    return jsonify({"name": obj, "label": obj, "keyPrefix": PREFIX[obj], "createable": True,
                    "updateable": True, "queryable": True, "fields": fields})


@bp.get("/services/data/<version>/sobjects/<obj>/<rid>")
@bp.get("/services/data/<version>/sobjects/<obj>/<rid>/")
def get_record(version: str, obj: str, rid: str) -> Response:
    _check_version(version)
    _schema(obj)
    rec = state().store.get(obj, rid)
    if rec is None:
        raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
    fields = request.args.get("fields")
    names = [f.strip() for f in fields.split(",")] if fields else None
    if names:
        _validate_field_names(obj, names)
    return jsonify(render(obj, flat(obj, rec), version, names))


@bp.get("/services/data/<version>/sobjects/<obj>/<field>/<path:value>")
def get_by_external_id(version: str, obj: str, field: str, value: str) -> Response:
    _check_version(version)
    schema = _schema(obj)
    if field == "Id":
        return get_record(version, obj, value)
    if not schema.get(field, {}).get("externalId"):
        raise SfError(404, "NOT_FOUND",
                      f"Provided external ID field does not exist or is not accessible: {field}")
    rec = state().store.find(obj, field, value)
    if rec is None:
        raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
    return jsonify(render(obj, flat(obj, rec), version))


@bp.post("/services/data/<version>/sobjects/<obj>")
@bp.post("/services/data/<version>/sobjects/<obj>/")
def create(version: str, obj: str) -> Response:
    _check_version(version)
    _schema(obj)
    data = _body()
    clean = validate(obj, data, creating=True)
    rid = new_sf_id(obj)
    state().store.insert(obj, rid, clean)
    resp = jsonify({"id": rid, "success": True, "errors": []})
    resp.status_code = 201
    return resp


@bp.patch("/services/data/<version>/sobjects/<obj>/<rid>")
def update(version: str, obj: str, rid: str) -> Response:
    _check_version(version)
    _schema(obj)
    st = state()
    with st.store.lock:
        rec = st.store.get(obj, rid)
        if rec is None:
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        clean = validate(obj, _body(), creating=False)
        st.store.update(obj, rid, {**rec["data"], **clean})
    return Response(status=204)


@bp.patch("/services/data/<version>/sobjects/<obj>/<field>/<path:value>")
def upsert(version: str, obj: str, field: str, value: str) -> Response:
    """Upsert by external id: 201 + created true when new, 200 + created false otherwise."""
    _check_version(version)
    schema = _schema(obj)
    if not schema.get(field, {}).get("externalId"):
        raise SfError(404, "NOT_FOUND",
                      f"Provided external ID field does not exist or is not accessible: {field}")
    data = _body()
    if field in data and str(data[field]) != value:
        raise SfError(400, "INVALID_FIELD",
                      f"The value of the external ID field {field} in the body does not match "
                      "the value in the URL")
    data.pop(field, None)
    st = state()
    with st.store.lock:  # find-then-write must be atomic, as in Salesforce
        rec = st.store.find(obj, field, value)
        if rec is None:
            clean = validate(obj, data, creating=True)
            clean[field] = value
            rid = new_sf_id(obj)
            st.store.insert(obj, rid, clean)
            resp = jsonify({"id": rid, "success": True, "errors": [], "created": True})
            resp.status_code = 201
            return resp
        clean = validate(obj, data, creating=False)
        st.store.update(obj, rec["id"], {**rec["data"], **clean})
        return jsonify({"id": rec["id"], "success": True, "errors": [], "created": False})


@bp.delete("/services/data/<version>/sobjects/<obj>/<rid>")
def delete(version: str, obj: str, rid: str) -> Response:
    _check_version(version)
    _schema(obj)
    st = state()
    if st.store.get(obj, rid) is None:
        raise SfError(404, "ENTITY_IS_DELETED", "entity is deleted")
    with st.store.tx() as c:
        c.execute("DELETE FROM records WHERE obj=? AND id=?", (obj, rid))
    return Response(status=204)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise SfError(400, "JSON_PARSER_ERROR",
                      "Unexpected character: the request body must be a JSON object")
    return data


def validate(obj: str, data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Check a write like Salesforce does; raise SfError with its codes and messages."""
    schema = SCHEMA[obj]
    out: dict[str, Any] = {}
    for name, value in data.items():
        f = schema.get(name)
        if f is None:
            raise SfError(400, "INVALID_FIELD",
                          f"No such column '{name}' on sobject of type {obj}")
        allowed = f["createable"] if creating else f["updateable"]
        if not allowed:
            raise SfError(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                          f"Unable to create/update fields: {name}. Please check the security "
                          "settings of this field and verify that it is read/write for your "
                          "profile or permission set.", [name])
        label = f["label"] or name
        if value is None:
            out[name] = None
            continue
        t = f["type"]
        if t in ("string", "textarea", "email", "phone", "url", "combobox", "picklist",
                 "reference"):
            if not isinstance(value, str):
                raise SfError(400, "JSON_PARSER_ERROR",
                              f"Cannot deserialize instance of string from {type(value).__name__}"
                              f" value {value!r} for field {name}")
            if f["length"] and len(value) > f["length"]:
                raise SfError(400, "STRING_TOO_LONG",
                              f"{label}: data value too large: {value[:40]}... "
                              f"(max length={f['length']})", [name])
            if t == "picklist" and f["picklist"] and value not in f["picklist"]:
                raise SfError(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                              f"{label}: bad value for restricted picklist field: {value}",
                              [name])
            if t == "reference":
                found = find_any(value)
                if found is None or found[0] not in f["referenceTo"]:
                    if value[:3] in OBJ_BY_PREFIX and OBJ_BY_PREFIX[value[:3]] in f["referenceTo"]:
                        raise SfError(400, "INVALID_CROSS_REFERENCE_KEY",
                                      f"invalid cross reference id: {value}", [name])
                    raise SfError(400, "FIELD_INTEGRITY_EXCEPTION",
                                  f"{label}: id value of incorrect type: {value}", [name])
        elif t in ("int",):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SfError(400, "JSON_PARSER_ERROR",
                              f"Cannot deserialize instance of int from {value!r} for {name}")
        elif t in ("currency", "percent"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SfError(400, "JSON_PARSER_ERROR",
                              f"Cannot deserialize instance of double from {value!r} for {name}")
        elif t == "date":
            try:
                date.fromisoformat(str(value))
            except ValueError:
                raise SfError(400, "JSON_PARSER_ERROR",
                              f"Cannot deserialize instance of date from VALUE_STRING value "
                              f"{value} or request may be missing a required field") from None
        elif t == "boolean" and not isinstance(value, bool):
            raise SfError(400, "JSON_PARSER_ERROR", f"{name} must be true or false")
        out[name] = value
    if creating:
        missing = [n for n, f in schema.items() if f["required"] and n not in out]
        if obj == "Task" and "Status" in missing:
            out["Status"] = "Not Started"  # Salesforce defaults it
            missing.remove("Status")
        if missing:
            raise SfError(400, "REQUIRED_FIELD_MISSING",
                          f"Required fields are missing: [{', '.join(missing)}]", missing)
    return out
