"""HubSpot adapter on hubspot-api-client: contact (or company/deal) with associated company,
deals, calls and notes for context; a call engagement associated to the contact for
write-back, idempotent through the unique call property ``salescoach_call_key``.

``HubSpot(access_token=…, host=<API host>, ssl_ca_cert=<CA>)`` points every API at the
sandbox; v3 paths are the SDK's, so a move to date-versioned paths is an SDK upgrade.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3
from hubspot import HubSpot
from hubspot.crm.objects.calls import (
    AssociationSpec,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectInputForCreate,
)
from urllib3.util.retry import Retry

from plugin.coach.types import CustomerContext
from plugin.crm.cache import CONTEXT_CACHE, TtlCache
from plugin.crm.highlights import build_highlights, is_own_activity, strip_html
from plugin.crm.http import retry_after_seconds
from plugin.crm.retry import DEFAULT_POLICY, RetryPolicy, Unauthorized, call_with_retries
from plugin.crm.tokens import OAuthApp, OAuthTokens, TokenSaver
from plugin.providers.crm import CallActivity, CrmAdapter
from plugin.providers.errors import (
    ProviderError,
    ProviderInputError,
    ProviderUnavailable,
    classify_status,
)

CALL_KEY_PROPERTY = "salescoach_call_key"
MAX_BODY = 65_536
TIMEOUT = (5.0, 20.0)
ID_RE = re.compile(r"^\d{1,20}$")
# HUBSPOT_DEFINED association type ids, call -> object.
CALL_ASSOCIATION = {"contact": 194, "company": 182, "deal": 206}
DISPOSITIONS = {
    "busy": "9d9162e7-6cf3-4944-bf63-4dff82258764",
    "connected": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
    "left live message": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff",
    "left voicemail": "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "no answer": "73a0d17f-1163-4015-bdd5-ec830791da20",
    "wrong number": "17b47fee-58de-441e-a44c-c6300d46f273",
}
_PROPERTY_READY: set[tuple[str, str]] = set()  # (API host, tenant) with the call key property
CONTACT_PROPS = ["firstname", "lastname", "jobtitle", "email", "phone", "company"]
COMPANY_PROPS = ["name", "domain", "industry", "numberofemployees", "city"]
DEAL_PROPS = ["dealname", "dealstage", "amount", "closedate", "pipeline", "hs_is_closed"]
CALL_PROPS = ["hs_timestamp", "hs_call_title", "hs_call_body", "hs_call_duration",
              "hs_call_direction", CALL_KEY_PROPERTY]
NOTE_PROPS = ["hs_timestamp", "hs_note_body", CALL_KEY_PROPERTY]
HISTORY_LIMIT = 10  # real (not ours) calls and notes kept for a record's context
MAX_HISTORY_IDS = 500  # associated calls/notes read (in batches of 100) to find the newest
CLOSED_STAGES = {"closedwon", "closedlost"}
# Labels of the default sales pipeline's stages (custom pipelines keep their stage ids).
STAGE_LABELS = {"appointmentscheduled": "Appointment Scheduled",
                "qualifiedtobuy": "Qualified To Buy",
                "presentationscheduled": "Presentation Scheduled",
                "decisionmakerboughtin": "Decision Maker Bought-In",
                "contractsent": "Contract Sent", "closedwon": "Closed Won",
                "closedlost": "Closed Lost"}


def _record_kind(record_type: str) -> str:
    kind = (record_type or "contact").lower().rstrip("s")
    kind = {"companie": "company", "0-1": "contact", "0-2": "company", "0-3": "deal"}.get(kind,
                                                                                          kind)
    if kind not in CALL_ASSOCIATION:
        raise ProviderInputError(f"HubSpot record type {record_type!r} is not supported; use "
                                 "contact, company or deal")
    return kind


class HubSpotAdapter(CrmAdapter):
    kind = "hubspot"

    def __init__(self, tenant_id: str, tokens: OAuthTokens, app: OAuthApp, *,
                 on_tokens: TokenSaver | None = None, policy: RetryPolicy = DEFAULT_POLICY,
                 cache: TtlCache = CONTEXT_CACHE) -> None:
        self.tenant_id = tenant_id
        self.tokens = tokens
        self.app = app
        self.on_tokens = on_tokens
        self.policy = policy
        self.cache = cache
        self.sleep: Callable[[float], None] = time.sleep  # backoff waits (observable)
        self.timeout: tuple[float, float] = TIMEOUT  # (connect, read) seconds per request
        self._lock = threading.Lock()
        self._client: HubSpot | None = None

    # Plumbing ----------------------------------------------------------------------------
    def _sdk_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"host": self.tokens.instance_url.rstrip("/"),
                                  # Our own loop retries (with Retry-After); urllib3 must not.
                                  "retry": Retry(total=0, redirect=0, raise_on_status=False)}
        if isinstance(self.app.verify, str):
            config["ssl_ca_cert"] = self.app.verify
        return config

    def _hs(self) -> HubSpot:
        with self._lock:
            if self._client is None:
                self._client = HubSpot(access_token=self.tokens.access_token,
                                       **self._sdk_config())
            return self._client

    def _refresh(self) -> None:
        if not self.tokens.refresh_token:
            raise ProviderInputError("the HubSpot token expired and no refresh token is stored; "
                                     "reconnect HubSpot on the admin page", status=401)
        client = HubSpot(**self._sdk_config())
        try:
            resp = client.oauth.tokens_api.create(
                grant_type="refresh_token", refresh_token=self.tokens.refresh_token,
                client_id=self.app.client_id, client_secret=self.app.client_secret,
                _request_timeout=self.timeout)
        except Exception as exc:  # noqa: BLE001 - classified below
            err = self._classify(exc)
            if isinstance(err, ProviderInputError):
                raise ProviderInputError(
                    f"HubSpot refused to refresh the access token ({err.message}); an admin "
                    "must reconnect HubSpot on the admin page", status=err.status) from exc
            raise err from exc
        with self._lock:
            self.tokens = OAuthTokens(
                access_token=resp.access_token,
                refresh_token=resp.refresh_token or self.tokens.refresh_token,
                instance_url=self.tokens.instance_url,
                expires_at=datetime.now(UTC) + timedelta(seconds=int(resp.expires_in or 1800)))
            self._client = None
        if self.on_tokens is not None:
            self.on_tokens(self.tokens)

    @staticmethod
    def _classify(exc: BaseException) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        if _is_api_exception(exc):
            status = int(getattr(exc, "status", 0) or 0)
            raw = getattr(exc, "body", "") or ""
            headers = getattr(exc, "headers", None) or {}
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {}
            detail = body.get("message") if isinstance(body, dict) else None
            category = body.get("category", "") if isinstance(body, dict) else ""
            message = f"HubSpot: {detail or getattr(exc, 'reason', '') or raw[:200]}"
            if category:
                message += f" ({category})"
            if status == 401:
                return Unauthorized(message, status=401)
            if status == 0:
                return ProviderUnavailable(message)
            retry_after = retry_after_seconds(headers.get("Retry-After"))
            err = classify_status(status)(message, status=status, retry_after=retry_after)
            return err
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError | TimeoutError):
            return ProviderUnavailable(f"HubSpot unreachable: {exc}")
        return ProviderUnavailable(f"HubSpot call failed: {type(exc).__name__}: {exc}")

    def _call(self, what: str, fn: Any) -> Any:
        expires = self.tokens.expires_at
        if expires is not None and self.tokens.refresh_token:
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            if expires - datetime.now(UTC) < timedelta(seconds=60):
                self._refresh()  # HubSpot tokens last 30 minutes: refresh before, not after
        return call_with_retries(lambda: fn(self._hs()), classify=self._classify,
                                 refresh=self._refresh, policy=self.policy, sleep=self.sleep,
                                 what=f"HubSpot {what}")

    @staticmethod
    def _check_id(record_id: str) -> str:
        if not ID_RE.match(record_id or ""):
            raise ProviderInputError(f"{record_id!r} is not a HubSpot record id (digits only)")
        return record_id

    # Reads -------------------------------------------------------------------------------
    def customer_context(self, record_id: str, record_type: str = "") -> CustomerContext:
        record_id = self._check_id(record_id)
        kind = _record_kind(record_type)
        ctx: CustomerContext = self.cache.get_or_compute(
            (self.tenant_id, self.kind, record_id), lambda: self._read_context(record_id, kind))
        return ctx

    def _get(self, api: str, record_id: str, props: list[str], assoc: list[str]) -> Any:
        def op(hs: HubSpot) -> Any:
            basic = {"contact": hs.crm.contacts.basic_api, "company": hs.crm.companies.basic_api,
                     "deal": hs.crm.deals.basic_api}[api]
            return basic.get_by_id(record_id, properties=props, associations=assoc,
                                   _request_timeout=self.timeout)
        try:
            return self._call(f"{api} read", op)
        except ProviderInputError as exc:
            if exc.status == 404:
                raise ProviderInputError(f"HubSpot has no {api} with id {record_id}",
                                         status=404) from exc
            raise

    def _batch(self, api: str, ids: list[str], props: list[str]) -> list[Any]:
        if not ids:
            return []

        def op(hs: HubSpot) -> Any:
            if api == "deals":
                from hubspot.crm.deals import BatchReadInputSimplePublicObjectId as Input
                from hubspot.crm.deals import SimplePublicObjectId as Id
                batch = hs.crm.deals.batch_api
            elif api == "calls":
                from hubspot.crm.objects.calls import (
                    BatchReadInputSimplePublicObjectId as Input,
                )
                from hubspot.crm.objects.calls import (
                    SimplePublicObjectId as Id,
                )
                batch = hs.crm.objects.calls.batch_api
            else:
                from hubspot.crm.objects.notes import (
                    BatchReadInputSimplePublicObjectId as Input,
                )
                from hubspot.crm.objects.notes import (
                    SimplePublicObjectId as Id,
                )
                batch = hs.crm.objects.notes.batch_api
            return [batch.read(Input(properties=props, properties_with_history=[],
                                     inputs=[Id(id=i) for i in chunk]),
                               _request_timeout=self.timeout)
                    for chunk in chunks]
        # Every associated id, 100 a request: our own calls must not push real ones out.
        chunks = [ids[i:i + 100] for i in range(0, min(len(ids), MAX_HISTORY_IDS), 100)]
        results = self._call(f"{api} batch read", op)
        return [obj for result in results for obj in (result.results or [])]

    @staticmethod
    def _assoc_ids(obj: Any, name: str) -> list[str]:
        assocs = getattr(obj, "associations", None) or {}
        coll = assocs.get(name)
        return [str(a.id) for a in (coll.results if coll is not None else [])]

    def _read_context(self, record_id: str, kind: str) -> CustomerContext:
        person: dict[str, Any] = {}
        company: dict[str, Any] = {}
        assoc = ["companies", "deals", "calls", "notes"]
        if kind == "contact":
            rec = self._get("contact", record_id, CONTACT_PROPS, assoc)
            p = rec.properties or {}
            person = {"name": " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x),
                      "title": p.get("jobtitle") or "", "email": p.get("email") or "",
                      "phone": p.get("phone") or ""}
            company_ids = self._assoc_ids(rec, "companies")
        elif kind == "company":
            rec = self._get("company", record_id, COMPANY_PROPS, ["deals", "calls", "notes"])
            company_ids = []
            company = _company(rec.properties or {})
        else:
            rec = self._get("deal", record_id, DEAL_PROPS, assoc)
            company_ids = self._assoc_ids(rec, "companies")
        if company_ids:
            comp = self._get("company", company_ids[0], COMPANY_PROPS, [])
            company = _company(comp.properties or {})
        deal_ids = [record_id] if kind == "deal" else self._assoc_ids(rec, "deals")
        deals = []
        for d in self._batch("deals", deal_ids, DEAL_PROPS):
            p = d.properties or {}
            if p.get("hs_is_closed") == "true" or p.get("dealstage") in CLOSED_STAGES:
                continue
            stage = p.get("dealstage") or ""
            deals.append({"id": d.id, "name": p.get("dealname") or "",
                          "stage": STAGE_LABELS.get(stage, stage),
                          "amount": _num(p.get("amount")),
                          "close_date": (p.get("closedate") or "")[:10]})
        activities: list[dict[str, Any]] = []
        for c in self._batch("calls", self._assoc_ids(rec, "calls"), CALL_PROPS):
            p = c.properties or {}
            activities.append({"id": c.id, "date": _day(p.get("hs_timestamp")), "kind": "call",
                               "subject": p.get("hs_call_title") or "",
                               "notes": strip_html(p.get("hs_call_body") or ""),
                               "at": _stamp(p.get("hs_timestamp")),
                               "duration_s": (_num(p.get("hs_call_duration")) or 0) // 1000,
                               "call_key": p.get(CALL_KEY_PROPERTY) or ""})
        for n in self._batch("notes", self._assoc_ids(rec, "notes"), NOTE_PROPS):
            p = n.properties or {}
            activities.append({"id": n.id, "date": _day(p.get("hs_timestamp")), "kind": "note",
                               "subject": "", "notes": strip_html(p.get("hs_note_body") or ""),
                               "at": _stamp(p.get("hs_timestamp")),
                               "call_key": p.get(CALL_KEY_PROPERTY) or ""})
        activities = [a for a in activities if not is_own_activity(a)]
        activities.sort(key=lambda a: str(a.get("at") or ""), reverse=True)
        activities = activities[:HISTORY_LIMIT]
        for a in activities:
            a.pop("at", None)
        return CustomerContext(crm=self.kind, record_id=record_id, record_type=kind,
                               person=person, company=company, deals=tuple(deals),
                               activities=tuple(activities),
                               highlights=build_highlights(activities, deals))

    def search_records(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Contacts, companies and deals matching ``text`` (CRM search API ``query``):
        ``[{"id", "type", "name", "company"}]``, contacts first."""
        import importlib

        query = " ".join(text.split())[:200]
        if not any(c.isalnum() for c in query):
            raise ProviderInputError("search text needs at least one letter or digit")
        n = max(1, min(int(limit), 50))
        specs = (("contact", "contacts", CONTACT_PROPS), ("company", "companies", COMPANY_PROPS),
                 ("deal", "deals", ["dealname"]))
        out: list[dict[str, Any]] = []
        for kind, api, props in specs:
            if len(out) >= n:
                break

            def op(hs: HubSpot, api: str = api, props: list[str] = props) -> Any:
                request_cls = importlib.import_module(f"hubspot.crm.{api}") \
                    .PublicObjectSearchRequest
                body = request_cls(query=query, limit=n - len(out), properties=props,
                                   filter_groups=[])
                return getattr(hs.crm, api).search_api.do_search(
                    public_object_search_request=body, _request_timeout=self.timeout)
            for obj in self._call(f"{kind} search", op).results or []:
                p = obj.properties or {}
                if kind == "contact":
                    name = " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x) \
                        or p.get("email") or ""
                    company = p.get("company") or ""
                elif kind == "company":
                    name = company = p.get("name") or ""
                else:
                    name, company = p.get("dealname") or "", ""
                out.append({"id": str(obj.id), "type": kind, "name": name, "company": company})
        return out[:n]

    # Writes ------------------------------------------------------------------------------
    def call_properties(self, activity: CallActivity, key: str) -> dict[str, str]:
        if activity.duration_s < 0:
            raise ProviderInputError("call duration cannot be negative")
        body = activity.body_html or f"<p>{activity.body_text}</p>"
        if len(body) > MAX_BODY:
            link = (f'<p>… truncated; <a href="{activity.report_url}">full report</a></p>'
                    if activity.report_url else "<p>… truncated</p>")
            body = body[: MAX_BODY - len(link)] + link
        props = {
            "hs_timestamp": activity.started_at.astimezone(UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "hs_call_title": (activity.subject or "Call")[:255],
            "hs_call_body": body,
            "hs_call_duration": str(int(activity.duration_s) * 1000),
            "hs_call_direction": "INBOUND" if activity.direction.lower() == "inbound"
            else "OUTBOUND",
            "hs_call_status": "COMPLETED",
            CALL_KEY_PROPERTY: key,
        }
        disposition = (activity.disposition or "").strip()
        if disposition:
            guid = DISPOSITIONS.get(disposition.lower(), disposition
                                    if re.fullmatch(r"[0-9a-f-]{36}", disposition) else "")
            if not guid:
                raise ProviderInputError(
                    f"unknown call outcome {disposition!r}; use one of "
                    + ", ".join(k.title() for k in DISPOSITIONS) + " or a disposition GUID")
            props["hs_call_disposition"] = guid
        return props

    def ensure_call_key_property(self) -> None:
        """Create the unique ``salescoach_call_key`` property on calls if the portal lacks it
        (once per portal and process); HubSpot then refuses a second call with the same key."""
        marker = (self.tokens.instance_url, self.tenant_id)
        if marker in _PROPERTY_READY:
            return

        def op(hs: HubSpot) -> None:
            from hubspot.crm.properties import PropertyCreate

            core = hs.crm.properties.core_api
            try:
                core.get_by_name("calls", CALL_KEY_PROPERTY, _request_timeout=self.timeout)
                return
            except Exception as exc:
                if not (_is_api_exception(exc) and getattr(exc, "status", 0) == 404):
                    raise
            try:
                core.create("calls", PropertyCreate(
                    name=CALL_KEY_PROPERTY, label="Sales Coach call key", type="string",
                    field_type="text", group_name="callinformation", has_unique_value=True,
                    description="Idempotency key of the Sales Coach write-back; do not edit"),
                    _request_timeout=self.timeout)
            except Exception as exc:
                if not (_is_api_exception(exc) and getattr(exc, "status", 0) == 409):
                    raise
        self._call("call key property setup", op)
        _PROPERTY_READY.add(marker)

    def _existing(self, key: str) -> str | None:
        def op(hs: HubSpot) -> Any:
            try:
                return hs.crm.objects.calls.basic_api.get_by_id(
                    key, id_property=CALL_KEY_PROPERTY, properties=[CALL_KEY_PROPERTY],
                    _request_timeout=self.timeout)
            except Exception as exc:
                if _is_api_exception(exc) and getattr(exc, "status", 0) == 404:
                    return None
                raise
        rec = self._call("call lookup", op)
        return str(rec.id) if rec is not None else None

    def write_call_activity(self, activity: CallActivity, idempotency_key: str) -> str:
        """Read by the unique ``salescoach_call_key`` first, create (with the association)
        only if absent; a create that loses a race gets 409 and reads the winner's id."""
        key = idempotency_key.strip()
        if not key or len(key) > 255:
            raise ProviderInputError("idempotency key must be 1..255 characters")
        record_id = self._check_id(activity.record_id)
        kind = _record_kind(activity.record_type)
        props = self.call_properties(activity, key)
        self.ensure_call_key_property()
        found = self._existing(key)
        if found:
            return found
        payload = SimplePublicObjectInputForCreate(properties=props, associations=[
            PublicAssociationsForObject(
                to=PublicObjectId(id=record_id),
                types=[AssociationSpec(association_category="HUBSPOT_DEFINED",
                                       association_type_id=CALL_ASSOCIATION[kind])])])
        try:
            created = self._call("call create",
                                 lambda hs: hs.crm.objects.calls.basic_api.create(
                                     payload, _request_timeout=self.timeout))
        except ProviderInputError as exc:
            if exc.status == 409:  # the unique key exists: an earlier try got through
                again = self._existing(key)
                if again:
                    return again
            raise
        self.cache.drop((self.tenant_id, self.kind, record_id))
        return str(created.id)

    def update_call_activity(self, crm_id: str, activity: CallActivity,
                             idempotency_key: str) -> str:
        """Rewrite our call engagement ``crm_id`` in place (PATCH of its title, body,
        duration, direction and outcome; the unique key property keeps its value). A call
        deleted in HubSpot since is written again under ``idempotency_key``."""
        from hubspot.crm.objects.calls import SimplePublicObjectInput

        call_id = self._check_id(crm_id)
        record_id = self._check_id(activity.record_id)
        props = {k: v for k, v in self.call_properties(activity, idempotency_key).items()
                 if k not in (CALL_KEY_PROPERTY, "hs_timestamp")}
        try:
            self._call("call update", lambda hs: hs.crm.objects.calls.basic_api.update(
                call_id, SimplePublicObjectInput(properties=props),
                _request_timeout=self.timeout))
        except ProviderInputError as exc:
            if exc.status == 404:
                return self.write_call_activity(activity, idempotency_key)
            raise
        self.cache.drop((self.tenant_id, self.kind, record_id))
        return call_id


    def delete_call_activity(self, crm_id: str) -> bool:
        """Archive (HubSpot's delete) our call ``crm_id``; False if it no longer exists."""
        call_id = self._check_id(crm_id)
        try:
            self._call("call delete", lambda hs: hs.crm.objects.calls.basic_api.archive(
                call_id, _request_timeout=self.timeout))
        except ProviderInputError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _is_api_exception(exc: BaseException) -> bool:
    """Each generated SDK package has its own ApiException (and 4xx/5xx subclasses)."""
    return any(c.__name__ == "ApiException" for c in type(exc).__mro__)


def _company(p: dict[str, Any]) -> dict[str, Any]:
    return {"name": p.get("name") or "", "industry": (p.get("industry") or "").title(),
            "size": _num(p.get("numberofemployees")), "website": p.get("domain") or ""}


def _num(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _stamp(stamp: Any) -> str:
    """A sortable ISO time of ``hs_timestamp`` (ISO text or epoch milliseconds)."""
    text = str(stamp or "")
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC).isoformat()
    return text


def _day(stamp: Any) -> str:
    text = str(stamp or "")
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC).date().isoformat()
    return text[:10]
