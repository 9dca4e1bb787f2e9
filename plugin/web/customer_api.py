"""The customer in the panel: ``GET /api/v1/customer`` (who they are, open deals, a
de-duplicated summary of their CRM history) and ``GET /api/v1/crm/records`` (the record
picker). The domain logic is ``plugin.crm.customer``; this module checks input and maps
outcomes to HTTP."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, jsonify

from plugin.crm.customer import (
    SEARCH_MAX_CHARS,
    SEARCH_MIN_CHARS,
    RecordNotFound,
    customer_view,
    search_records,
)
from plugin.db import request_session
from plugin.providers.errors import ProviderInputError
from plugin.web.auth import current_identity, require_identity
from plugin.web.errors import ApiError
from plugin.web.inputs import arg_int, arg_str

bp = Blueprint("customer_api", __name__)

SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
HS_ID = re.compile(r"^\d{1,20}$")
SF_TYPES = {"Contact", "Lead", "Account", "Opportunity"}
HS_TYPES = {"contact": "contact", "contacts": "contact", "company": "company",
            "companies": "company", "deal": "deal", "deals": "deal", "0-1": "contact",
            "0-2": "company", "0-3": "deal"}
SF_PREFIX = {"003": "Contact", "00Q": "Lead", "001": "Account", "006": "Opportunity"}


def checked_record(record_id: str, record_type: str) -> tuple[str, str]:
    """(id, type) of a Salesforce or HubSpot record, or a 400 saying what is wrong."""
    if HS_ID.match(record_id):
        kind = HS_TYPES.get((record_type or "contact").lower())
        if kind is None:
            raise ApiError(400, "invalid_record_type",
                           f"{record_type!r} is not a HubSpot record type; use contact, "
                           "company or deal", record_type=record_type)
        return record_id, kind
    if SF_ID.match(record_id):
        rtype = record_type or SF_PREFIX.get(record_id[:3], "")
        if rtype not in SF_TYPES:
            raise ApiError(400, "invalid_record_type",
                           f"{record_type or 'this record'!r} is not a Salesforce record type "
                           "we read; use Contact, Lead, Account or Opportunity",
                           record_type=record_type)
        return record_id, rtype
    raise ApiError(400, "invalid_record_id",
                   "record_id must be a Salesforce id (15 or 18 letters and digits) or a "
                   "HubSpot id (digits)", record_id=record_id[:40])


@bp.get("/api/v1/customer")
@require_identity
def customer() -> Any:
    """Who the customer on ``record_id`` is, their open deals and history summary."""
    ident = current_identity()
    record_id = arg_str("record_id", 64) or ident.record_id
    if not record_id:
        raise ApiError(400, "missing_record_id", "record_id is required (pick a record)")
    record_type = arg_str("record_type", 32) or (
        ident.record_type if record_id == ident.record_id else "")
    record_id, record_type = checked_record(record_id, record_type)
    try:
        view = customer_view(request_session(), ident.tenant_id, record_id, record_type,
                             current_app.config["SETTINGS"])
    except RecordNotFound:
        raise ApiError(404, "not_found", "no such record in this account's CRM",
                       record_id=record_id) from None
    except ProviderInputError as exc:
        raise ApiError(400, "invalid_record", exc.message, record_id=record_id) from None
    return jsonify(view)


@bp.get("/api/v1/crm/records")
@require_identity
def records() -> Any:
    """The record picker: the tenant's CRM people, companies and deals matching ``q``."""
    ident = current_identity()
    text = " ".join(arg_str("q", 1000, code="invalid_query").split())
    if len(text) < SEARCH_MIN_CHARS or len(text) > SEARCH_MAX_CHARS:
        raise ApiError(400, "invalid_query",
                       f"q must be {SEARCH_MIN_CHARS} to {SEARCH_MAX_CHARS} characters")
    if not any(c.isalnum() for c in text):
        raise ApiError(400, "invalid_query", "q needs at least one letter or digit")
    limit = arg_int("limit", 20, 1, 50, code="invalid_limit")
    try:
        found = search_records(request_session(), ident.tenant_id, text,
                               current_app.config["SETTINGS"], limit)
    except ProviderInputError as exc:
        raise ApiError(400, "invalid_query", exc.message) from None
    return jsonify(found)
