"""Salesforce adapter on simple-salesforce: SOQL reads for context, a ``Task`` (call) upserted
by the external id ``SalesCoach_Call_Key__c`` for write-back.

simple-salesforce hard-codes ``https://`` and takes host[:port] from ``instance_url``, so the
sandbox is reached with ``instance_url=https://127.0.0.1:<port>`` and a session trusting its CA.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from simple_salesforce import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceError

from plugin.coach.types import CustomerContext
from plugin.crm.cache import CONTEXT_CACHE, TtlCache
from plugin.crm.highlights import build_highlights, is_own_activity
from plugin.crm.http import CrmSession, retry_after_seconds
from plugin.crm.retry import DEFAULT_POLICY, RetryPolicy, Unauthorized, call_with_retries
from plugin.crm.tokens import OAuthApp, OAuthTokens, TokenSaver, refresh_salesforce
from plugin.providers.crm import CallActivity, CrmAdapter
from plugin.providers.errors import (
    ProviderError,
    ProviderInputError,
    ProviderUnavailable,
    classify_status,
)

CALL_KEY_FIELD = "SalesCoach_Call_Key__c"
HISTORY_LIMIT = 10  # real (not ours) Tasks read for a record's context
SOSL_RESERVED = set("?&|!{}[]()^~*:\\\"'+-")
MAX_DESCRIPTION = 32_000
ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
PREFIX_TYPES = {"003": "Contact", "00Q": "Lead", "001": "Account", "006": "Opportunity"}
# Errors that mean "try later", whatever their HTTP status (Salesforce answers 403 for limits).
RETRYABLE_CODES = {"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW",
                   "QUERY_TIMEOUT"}


def normalise_key(key: str) -> str:
    """The idempotency key as stored in the external-id field (≤ 255 chars, URL-safe)."""
    key = key.strip()
    if not key or len(key) > 255:
        raise ProviderInputError("idempotency key must be 1..255 characters")
    return key


class SalesforceAdapter(CrmAdapter):
    kind = "salesforce"

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds per request."""
        return self.session.default_timeout

    @timeout.setter
    def timeout(self, value: tuple[float, float]) -> None:
        self.session.default_timeout = value

    def __init__(self, tenant_id: str, tokens: OAuthTokens, app: OAuthApp, *,
                 api_version: str = "62.0", on_tokens: TokenSaver | None = None,
                 policy: RetryPolicy = DEFAULT_POLICY, cache: TtlCache = CONTEXT_CACHE) -> None:
        self.tenant_id = tenant_id
        self.tokens = tokens
        self.app = app
        self.api_version = api_version
        self.on_tokens = on_tokens
        self.policy = policy
        self.cache = cache
        self.session = CrmSession(verify=app.verify)
        self.sleep: Callable[[float], None] = time.sleep  # backoff waits (observable)
        self._lock = threading.Lock()
        self._client: Salesforce | None = None

    # Plumbing ----------------------------------------------------------------------------
    def _sf(self) -> Salesforce:
        with self._lock:
            if self._client is None:
                self._client = Salesforce(session_id=self.tokens.access_token,
                                          instance_url=self.tokens.instance_url,
                                          version=self.api_version, session=self.session)
            return self._client

    def _refresh(self) -> None:
        with self._lock:
            self.tokens = refresh_salesforce(self.app, self.tokens)
            self._client = None
        if self.on_tokens is not None:
            self.on_tokens(self.tokens)

    def _classify(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, requests.Timeout):
            return ProviderUnavailable(f"Salesforce did not answer in time: {exc}")
        if isinstance(exc, requests.RequestException):
            return ProviderUnavailable(f"Salesforce unreachable: {exc}")
        if isinstance(exc, SalesforceError):
            status = int(exc.status)
            errors: list[Any] = exc.content if isinstance(exc.content, list) else []
            codes = {str(e.get("errorCode")) for e in errors if isinstance(e, dict)}
            words = "; ".join(str(e.get("message", "")).strip().splitlines()[-1]
                              if str(e.get("message", "")).strip() else str(e.get("errorCode"))
                              for e in errors if isinstance(e, dict)) or str(exc.content)[:300]
            last = self.session.last_response
            retry_after = (retry_after_seconds(last.headers.get("Retry-After"))
                           if last is not None else None)
            message = f"Salesforce: {words}" + (f" ({', '.join(sorted(codes))})" if codes else "")
            if status == 401:
                return Unauthorized(message, status=401)
            cls = ProviderUnavailable if codes & RETRYABLE_CODES else classify_status(status)
            err = cls(message, status=status, retry_after=retry_after)
            err.codes = codes  # type: ignore[attr-defined]
            return err
        if isinstance(exc, ProviderError):
            return exc
        return ProviderUnavailable(f"Salesforce call failed: {type(exc).__name__}: {exc}")

    def _call(self, what: str, fn: Any) -> Any:
        return call_with_retries(lambda: fn(self._sf()), classify=self._classify,
                                 refresh=self._refresh, policy=self.policy, sleep=self.sleep,
                                 what=f"Salesforce {what}")

    def _query(self, soql: str) -> list[dict[str, Any]]:
        result = self._call("query", lambda sf: sf.query(soql))
        return list(result.get("records") or [])

    @staticmethod
    def _check_id(record_id: str) -> str:
        if not ID_RE.match(record_id or ""):
            raise ProviderInputError(f"{record_id!r} is not a Salesforce record id "
                                     "(15 or 18 letters and digits)")
        return record_id

    # Reads -------------------------------------------------------------------------------
    def customer_context(self, record_id: str, record_type: str = "") -> CustomerContext:
        record_id = self._check_id(record_id)
        rtype = record_type or PREFIX_TYPES.get(record_id[:3], "")
        if rtype not in ("Contact", "Lead", "Account", "Opportunity"):
            raise ProviderInputError(f"cannot read context for a Salesforce {rtype or 'record'} "
                                     f"({record_id}); use a Contact, Lead, Account or "
                                     "Opportunity")
        ctx: CustomerContext = self.cache.get_or_compute(
            (self.tenant_id, self.kind, record_id), lambda: self._read_context(record_id, rtype))
        return ctx

    def _one(self, soql: str, rtype: str, record_id: str) -> dict[str, Any]:
        rows = self._query(soql)
        if not rows:
            raise ProviderInputError(f"Salesforce has no {rtype} with id {record_id}", status=404)
        return rows[0]

    def _read_context(self, record_id: str, rtype: str) -> CustomerContext:
        person: dict[str, Any] = {}
        company: dict[str, Any] = {}
        account_id = ""
        who_id = ""
        lit = record_id  # validated: letters and digits only, safe inside quotes
        if rtype == "Contact":
            row = self._one("SELECT Id, Name, Title, Email, Phone, AccountId, Account.Name, "
                            "Account.Industry, Account.NumberOfEmployees, Account.Website "
                            f"FROM Contact WHERE Id = '{lit}' LIMIT 1", rtype, record_id)
            person = _person(row)
            account = row.get("Account") or {}
            account_id = str(row.get("AccountId") or "")
            company = _company(account) if account else {}
            who_id = record_id
        elif rtype == "Lead":
            row = self._one("SELECT Id, Name, Title, Email, Phone, Company, Industry FROM Lead "
                            f"WHERE Id = '{lit}' LIMIT 1", rtype, record_id)
            person = _person(row)
            company = {"name": row.get("Company") or "", "industry": row.get("Industry") or ""}
            who_id = record_id
        elif rtype == "Account":
            row = self._one("SELECT Id, Name, Industry, NumberOfEmployees, Website FROM Account "
                            f"WHERE Id = '{lit}' LIMIT 1", rtype, record_id)
            company = _company(row)
            account_id = record_id
        else:  # Opportunity
            row = self._one("SELECT Id, Name, AccountId, Account.Name, Account.Industry, "
                            "Account.NumberOfEmployees, Account.Website FROM Opportunity "
                            f"WHERE Id = '{lit}' LIMIT 1", rtype, record_id)
            account_id = str(row.get("AccountId") or "")
            company = _company(row.get("Account") or {}) if row.get("Account") else {}
        deals: list[dict[str, Any]] = []
        if account_id:
            deals = [_deal(d) for d in self._query(
                "SELECT Id, Name, StageName, Amount, CloseDate, Probability FROM Opportunity "
                f"WHERE AccountId = '{account_id}' AND IsClosed = false "
                "ORDER BY CloseDate ASC LIMIT 5")]
        where = f"WhoId = '{who_id}'" if who_id else f"WhatId = '{record_id}'"
        activities = self._history(where)
        return CustomerContext(crm=self.kind, record_id=record_id, record_type=rtype,
                               person=person, company=company, deals=tuple(deals),
                               activities=tuple(activities),
                               highlights=build_highlights(activities, deals))

    def _history(self, where: str, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
        """The record's real history, newest first: Tasks without our call key, filtered in
        the query so our own call logs never crowd it out. An org without the key field
        (Sales Coach not set up yet) is read without the filter, and our activities are
        dropped by their subject or report link."""
        fields = ("SELECT Id, Subject, Description, ActivityDate, TaskSubtype, CallType, "
                  "CallDurationInSeconds, CreatedDate")
        order = "ORDER BY ActivityDate DESC NULLS LAST"
        try:
            rows = self._query(f"{fields}, {CALL_KEY_FIELD} FROM Task WHERE {where} AND "
                               f"{CALL_KEY_FIELD} = null {order} LIMIT {limit}")
        except ProviderInputError as exc:
            if "INVALID_FIELD" not in getattr(exc, "codes", set()):
                raise
            rows = self._query(f"{fields} FROM Task WHERE {where} {order} LIMIT {limit * 5}")
        acts = [_activity(t) for t in rows]
        return [a for a in acts if not is_own_activity(a)][:limit]

    def search_records(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Contacts, Leads, Accounts and Opportunities whose name matches ``text`` (SOSL,
        each word as a prefix): ``[{"id", "type", "name", "company"}]``."""
        words = [sosl_escape(w) + "*" for w in text.split()[:6] if any(c.isalnum() for c in w)]
        if not words:
            raise ProviderInputError("search text needs at least one letter or digit")
        n = max(1, min(int(limit), 50))
        sosl = (f"FIND {{{' '.join(words)}}} IN NAME FIELDS RETURNING "
                f"Contact(Id, Name, Account.Name LIMIT {n}), Lead(Id, Name, Company LIMIT {n}), "
                f"Account(Id, Name LIMIT {n}), Opportunity(Id, Name, Account.Name LIMIT {n}) "
                f"LIMIT {n}")
        result = self._call("search", lambda sf: sf.search(sosl))
        rows = result.get("searchRecords") if isinstance(result, dict) else result
        out = []
        for row in rows or []:
            obj = str((row.get("attributes") or {}).get("type") or "")
            account = row.get("Account") or {}
            company = (row.get("Company") if obj == "Lead" else
                       row.get("Name") if obj == "Account" else account.get("Name")) or ""
            out.append({"id": str(row.get("Id") or ""), "type": obj,
                        "name": str(row.get("Name") or ""), "company": str(company)})
        return out[:n]

    # Writes ------------------------------------------------------------------------------
    def task_fields(self, activity: CallActivity) -> dict[str, Any]:
        """The Task body for ``activity`` (validated and trimmed to Salesforce's limits)."""
        rtype = activity.record_type or PREFIX_TYPES.get(activity.record_id[:3], "")
        self._check_id(activity.record_id)
        if activity.duration_s < 0:
            raise ProviderInputError("call duration cannot be negative")
        description = activity.body_text or ""
        if len(description) > MAX_DESCRIPTION:
            tail = f"\n… (truncated; full report: {activity.report_url})" if \
                activity.report_url else "\n… (truncated)"
            description = description[: MAX_DESCRIPTION - len(tail)] + tail
        fields: dict[str, Any] = {
            "Subject": (activity.subject or "Call")[:255],
            "TaskSubtype": "Call",
            "Type": "Call",
            "CallType": "Inbound" if activity.direction.lower() == "inbound" else "Outbound",
            "CallDurationInSeconds": int(activity.duration_s),
            "CallDisposition": (activity.disposition or "")[:255],
            "Description": description,
            "ActivityDate": activity.started_at.astimezone(UTC).date().isoformat(),
            "Status": "Completed",
            "Priority": "Normal",
        }
        if rtype in ("Contact", "Lead"):
            fields["WhoId"] = activity.record_id
            what = activity.extra.get("what_id", "")
            if what and rtype == "Contact":
                fields["WhatId"] = self._check_id(what)
        elif rtype in ("Account", "Opportunity"):
            fields["WhatId"] = activity.record_id
        else:
            raise ProviderInputError(f"cannot log a call on a Salesforce {rtype or 'record'} "
                                     f"({activity.record_id})")
        return fields

    def _existing(self, key: str) -> str | None:
        def get(sf: Salesforce) -> Any:
            try:
                return _task(sf).get_by_custom_id(CALL_KEY_FIELD, key)
            except SalesforceError as exc:
                if int(exc.status) == 404:
                    return None
                raise
        rec = self._call("task lookup", get)
        return str(rec["Id"]) if rec else None

    def write_call_activity(self, activity: CallActivity, idempotency_key: str) -> str:
        """Look the key up first (a retry after success returns the same Task), then upsert.

        Upsert (not create) closes the race where two workers both miss the lookup: the
        second one matches the first one's Task; because ``TaskSubtype`` is create-only,
        Salesforce then refuses the update and the Task is looked up again.
        """
        key = normalise_key(idempotency_key)
        fields = self.task_fields(activity)
        found = self._existing(key)
        if found:
            return found
        path = f"{CALL_KEY_FIELD}/{quote(key, safe='')}"
        try:
            resp = self._call("task upsert",
                              lambda sf: _task(sf).upsert(path, fields,
                                                                   raw_response=True))
        except ProviderInputError as exc:
            if "INVALID_FIELD_FOR_INSERT_UPDATE" in getattr(exc, "codes", set()):
                again = self._existing(key)
                if again:
                    return again
            raise
        task_id = ""
        if resp.content:
            task_id = str(resp.json().get("id") or "")
        if not task_id:
            task_id = self._existing(key) or ""
        if not task_id:
            raise ProviderUnavailable("Salesforce accepted the call but returned no Task id")
        self.cache.drop((self.tenant_id, self.kind, activity.record_id))
        return task_id

    def update_call_activity(self, crm_id: str, activity: CallActivity,
                             idempotency_key: str) -> str:
        """Rewrite our Task ``crm_id`` in place (PATCH; ``TaskSubtype`` is create-only and
        the key field keeps the key it was created with). A Task deleted in Salesforce
        since is written again under ``idempotency_key``."""
        self._check_id(crm_id)
        fields = {k: v for k, v in self.task_fields(activity).items()
                  if k not in ("TaskSubtype", "WhoId", "WhatId")}
        try:
            self._call("task update", lambda sf: _task(sf).update(crm_id, fields))
        except ProviderInputError as exc:
            if exc.status == 404 or "ENTITY_IS_DELETED" in getattr(exc, "codes", set()):
                return self.write_call_activity(activity, idempotency_key)
            raise
        self.cache.drop((self.tenant_id, self.kind, activity.record_id))
        return crm_id


    def delete_call_activity(self, crm_id: str) -> bool:
        """Delete our Task ``crm_id`` (DELETE sobjects/Task); False if already deleted."""
        self._check_id(crm_id)
        try:
            self._call("task delete", lambda sf: _task(sf).delete(crm_id))
        except ProviderInputError as exc:
            if exc.status == 404 or "ENTITY_IS_DELETED" in getattr(exc, "codes", set()):
                return False
            raise
        return True


def sosl_escape(word: str) -> str:
    """A word for a SOSL ``FIND {…}``: reserved characters escaped with a backslash."""
    return "".join("\\" + ch if ch in SOSL_RESERVED else ch for ch in word
                   if ch.isprintable())


def _task(sf: Salesforce) -> SFType:
    """``sf.Task`` with a precise type (``__getattr__`` is typed as a union)."""
    return SFType("Task", sf.session_id, sf.sf_instance, sf_version=sf.sf_version,
                  session=sf.session, salesforce=sf)


def _person(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row.get("Name") or "", "title": row.get("Title") or "",
            "email": row.get("Email") or "", "phone": row.get("Phone") or ""}


def _company(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row.get("Name") or "", "industry": row.get("Industry") or "",
            "size": row.get("NumberOfEmployees"), "website": row.get("Website") or ""}


def _deal(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row.get("Id"), "name": row.get("Name") or "", "stage": row.get("StageName"),
            "amount": row.get("Amount"), "close_date": row.get("CloseDate"),
            "probability": row.get("Probability")}


def _activity(row: dict[str, Any]) -> dict[str, Any]:
    day = row.get("ActivityDate") or str(row.get("CreatedDate") or "")[:10]
    kind = "call" if row.get("TaskSubtype") == "Call" else "task"
    return {"id": row.get("Id"), "date": day, "kind": kind, "subject": row.get("Subject") or "",
            "notes": row.get("Description") or "",
            "duration_s": row.get("CallDurationInSeconds"),
            "call_key": row.get(CALL_KEY_FIELD) or ""}


def now_utc() -> datetime:
    return datetime.now(UTC)
