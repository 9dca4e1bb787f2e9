"""Both CRM adapters over the wire: real SDKs, TLS with the sandbox's CA, no mocks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from plugin.crm import adapter_for, widget_context
from plugin.crm.cache import CONTEXT_CACHE
from plugin.crm.retry import RetryPolicy
from plugin.db import db
from plugin.models import Call, CrmConnection, Report
from plugin.providers.crm import CallActivity, CrmAdapter
from plugin.providers.errors import ProviderInputError, ProviderUnavailable
from plugin.security import SecretBox, encryption_key
from plugin.settings import Settings

FAST = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05, max_wait_s=5)
KINDS = ["salesforce", "hubspot"]
API_PREFIX = {"salesforce": "/services/data", "hubspot": "/crm/v3"}


@pytest.fixture
def sbx(sandbox: Any) -> Any:
    sandbox.clear()
    CONTEXT_CACHE.clear()
    return sandbox


def make_adapter(sandbox: Any, settings: Settings, kind: str) -> tuple[str, CrmAdapter]:
    tenant = sandbox.connect(settings, kind)
    with db.session_scope() as s:
        adapter = adapter_for(s, tenant, settings)
    assert adapter is not None and adapter.kind == kind
    adapter.policy = FAST  # type: ignore[attr-defined]
    return tenant, adapter


class SleepLog:
    """Records the backoff waits an adapter asks for, and really waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        import time

        self.waits.append(seconds)
        time.sleep(seconds)


def record_of(sandbox: Any, kind: str, key: str = "maria") -> tuple[str, str]:
    p = sandbox.person(key)
    return (p["sf_id"], p["sf_type"]) if kind == "salesforce" else (p["hs_id"], "contact")


def activity(record_id: str, record_type: str, **kw: Any) -> CallActivity:
    base: dict[str, Any] = dict(
        record_id=record_id, record_type=record_type, subject="Sales Coach: discovery follow-up",
        body_text="Score 72. Tips: ask about budget owner.", started_at=datetime(
            2026, 11, 20, 15, 30, tzinfo=UTC), duration_s=754,
        body_html="<p><b>Score 72</b></p><ul><li>Ask about the budget owner</li></ul>",
        direction="outbound", disposition="Connected", report_url="https://coach.example/r/1")
    base.update(kw)
    return CallActivity(**base)


@pytest.mark.parametrize("kind", KINDS)
def test_context_has_person_company_open_deals_and_cited_history(
        sbx: Any, crm_settings: Settings, kind: str) -> None:
    # given Maria (Acme Logistics) with an open deal and two past calls in the CRM
    _, adapter = make_adapter(sbx, crm_settings, kind)
    rid, rtype = record_of(sbx, kind)
    # when the adapter reads her context
    ctx = adapter.customer_context(rid, rtype)
    # then person, company, open deals and notes are normalised, with citable highlights
    assert ctx.crm == kind and ctx.record_id == rid
    assert ctx.person["name"] == "Maria Chen" and ctx.person["title"] == "VP Operations"
    assert ctx.company["name"] == "Acme Logistics"
    assert [d["name"] for d in ctx.deals] == ["Acme Logistics - Coaching Rollout"]
    assert ctx.deals[0]["amount"] == 48000
    assert len(ctx.activities) >= 2 and any("Gong" in a["notes"] for a in ctx.activities)
    joined = "\n".join(ctx.highlights)
    assert "Raised budget concerns on the" in joined
    assert "Mentioned competitor Gong" in joined
    assert "Open deal: Acme Logistics - Coaching Rollout" in joined


@pytest.mark.parametrize("kind", KINDS)
def test_context_is_cached_so_a_second_read_makes_no_crm_request(
        sbx: Any, crm_settings: Settings, kind: str) -> None:
    _, adapter = make_adapter(sbx, crm_settings, kind)
    rid, rtype = record_of(sbx, kind, "priya")
    first = adapter.customer_context(rid, rtype)
    before = len(sbx.requests(API_PREFIX[kind]))
    again = adapter.customer_context(rid, rtype)
    assert again == first
    assert len(sbx.requests(API_PREFIX[kind])) == before


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_record_is_an_input_error_in_words(
        sbx: Any, crm_settings: Settings, kind: str) -> None:
    _, adapter = make_adapter(sbx, crm_settings, kind)
    rid = "003000000000000AAA" if kind == "salesforce" else "123"
    with pytest.raises(ProviderInputError) as err:
        adapter.customer_context(rid, "Contact" if kind == "salesforce" else "contact")
    assert rid in err.value.message and "no" in err.value.message


@pytest.mark.parametrize("kind", KINDS)
def test_writing_the_same_key_twice_creates_one_activity(
        sbx: Any, crm_settings: Settings, kind: str) -> None:
    # given a call activity for Tom
    _, adapter = make_adapter(sbx, crm_settings, kind)
    rid, rtype = record_of(sbx, kind, "tom")
    key = f"call:twice-{kind}:v1"
    # when it is written twice with the same key (a retried task)
    first = adapter.write_call_activity(activity(rid, rtype), key)
    second = adapter.write_call_activity(activity(rid, rtype), key)
    # then the CRM holds exactly one activity, with the vendor's call fields
    assert first == second
    mine = [a for a in sbx.activities(kind) if a["id"] == first]
    assert len([a for a in sbx.activities(kind)
                if key in (a["data"].get("SalesCoach_Call_Key__c"),
                           a["data"].get("salescoach_call_key"))]) == 1
    data = mine[0]["data"]
    if kind == "salesforce":
        assert data["TaskSubtype"] == "Call" and data["Status"] == "Completed"
        assert data["CallType"] == "Outbound" and data["CallDurationInSeconds"] == 754
        assert data["WhoId"] == rid and data["ActivityDate"] == "2026-11-20"
        assert data["CallDisposition"] == "Connected"
    else:
        assert data["hs_call_status"] == "COMPLETED" and data["hs_call_direction"] == "OUTBOUND"
        assert data["hs_call_duration"] == "754000"
        assert data["hs_call_disposition"] == "f240bbac-87c9-4f6e-bf70-924b57d47db7"
        assert data["hs_call_body"].startswith("<p><b>Score 72</b>")
        assert mine[0]["associations"]["contacts"] == [rid]


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_writers_with_one_key_still_create_one_activity(
        sbx: Any, crm_settings: Settings, kind: str) -> None:
    _, adapter = make_adapter(sbx, crm_settings, kind)
    rid, rtype = record_of(sbx, kind, "sofia")
    key = f"call:race-{kind}:v1"
    ids: list[str] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with db.session_scope() as s:
                mine = adapter_for(s, adapter.tenant_id, crm_settings)  # type: ignore[attr-defined]
            assert mine is not None
            ids.append(mine.write_call_activity(activity(rid, rtype), key))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len(set(ids)) == 1
    assert [a["id"] for a in sbx.activities(kind)].count(ids[0]) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_429_with_retry_after_is_waited_out_then_succeeds(
        sbx: Any, crm_settings: Settings, kind: str) -> None:
    # given the CRM answers 429 with Retry-After: 0.3 twice
    _, adapter = make_adapter(sbx, crm_settings, kind)
    sleeps = SleepLog()
    adapter.sleep = sleeps  # type: ignore[attr-defined]
    sbx.fault(path=API_PREFIX[kind], status=429, retry_after=0.3, count=2)
    rid, rtype = record_of(sbx, kind, "james")
    # when we read context
    ctx = adapter.customer_context(rid, rtype)
    # then both 429s were waited out for at least Retry-After, and the read succeeded
    assert ctx.person["name"] == "James O'Neill"
    statuses = [r["status"] for r in sbx.requests(API_PREFIX[kind])]
    assert statuses[:3] == [429, 429, 200]
    assert len(sleeps.waits) == 2 and all(w >= 0.3 for w in sleeps.waits)


@pytest.mark.parametrize("kind", KINDS)
def test_5xx_is_retried_with_backoff_and_the_write_lands_once(
        sbx: Any, crm_settings: Settings, kind: str) -> None:
    _, adapter = make_adapter(sbx, crm_settings, kind)
    rid, rtype = record_of(sbx, kind, "hannah")
    before = len(sbx.activities(kind))
    sbx.fault(path=API_PREFIX[kind], status=503, count=2)
    crm_id = adapter.write_call_activity(activity(rid, rtype), f"call:5xx-{kind}:v1")
    assert crm_id
    assert len(sbx.activities(kind)) == before + 1
    assert [r["status"] for r in sbx.requests(API_PREFIX[kind])][:2] == [503, 503]


@pytest.mark.parametrize("kind", KINDS)
def test_a_crm_that_stays_down_raises_retryable_unavailable_and_writes_nothing(
        sbx: Any, crm_settings: Settings, kind: str) -> None:
    _, adapter = make_adapter(sbx, crm_settings, kind)
    rid, rtype = record_of(sbx, kind, "liam")
    before = len(sbx.activities(kind))
    sbx.fault(path=API_PREFIX[kind], status=502, count=0)
    with pytest.raises(ProviderUnavailable) as err:
        adapter.write_call_activity(activity(rid, rtype), f"call:down-{kind}:v1")
    sbx.clear()
    assert err.value.retryable and err.value.status == 502
    assert len(sbx.activities(kind)) == before


@pytest.mark.parametrize("kind", KINDS)
def test_expired_token_is_refreshed_once_and_stored_encrypted(
        sbx: Any, crm_settings: Settings, kind: str) -> None:
    # given a connection whose access token the CRM now says is expired
    tenant, adapter = make_adapter(sbx, crm_settings, kind)
    with db.session_scope() as s:
        conn = s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant))
        assert conn is not None
        old_enc = conn.access_token_enc
    box = SecretBox(encryption_key(crm_settings))
    sbx.expire_tokens(box.decrypt(old_enc))
    rid, rtype = record_of(sbx, kind, "maria")
    # when the adapter reads
    ctx = adapter.customer_context(rid, rtype)
    # then it got a 401, refreshed, retried, and saved the new token encrypted
    assert ctx.person["name"] == "Maria Chen"
    assert 401 in [r["status"] for r in sbx.requests(API_PREFIX[kind])]
    with db.session_scope() as s:
        conn = s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant))
        assert conn is not None
        new_token = box.decrypt(conn.access_token_enc)
    assert conn.access_token_enc != old_enc and new_token != box.decrypt(old_enc)
    assert new_token not in conn.access_token_enc
    # and a fresh adapter built from the stored connection works without another refresh
    CONTEXT_CACHE.clear()
    sbx.clear()
    with db.session_scope() as s:
        fresh = adapter_for(s, tenant, crm_settings)
    assert fresh is not None
    fresh.customer_context(rid, rtype)
    assert 401 not in [r["status"] for r in sbx.requests(API_PREFIX[kind])]


def test_salesforce_validation_error_is_in_words_and_nothing_is_half_written(
        sbx: Any, crm_settings: Settings) -> None:
    # given a Task pointing at a Contact id that does not exist
    _, adapter = make_adapter(sbx, crm_settings, "salesforce")
    before = len(sbx.activities("salesforce"))
    with pytest.raises(ProviderInputError) as err:
        adapter.write_call_activity(activity("003000000000000AAA", "Contact"), "call:bad-sf:v1")
    # then the CRM's own message comes back, it is not retried, and nothing was written
    assert "invalid cross reference id" in err.value.message
    assert "INVALID_CROSS_REFERENCE_KEY" in err.value.message
    assert not err.value.retryable and err.value.status == 400
    assert len(sbx.activities("salesforce")) == before
    upserts = [r for r in sbx.requests("/services/data") if "SalesCoach_Call_Key__c" in r["path"]
               and r["method"] == "PATCH"]
    assert len(upserts) == 1


def test_hubspot_validation_error_is_in_words_and_nothing_is_half_written(
        sbx: Any, crm_settings: Settings) -> None:
    _, adapter = make_adapter(sbx, crm_settings, "hubspot")
    before = len(sbx.activities("hubspot"))
    with pytest.raises(ProviderInputError) as err:
        adapter.write_call_activity(activity("999", "contact"), "call:bad-hs:v1")
    assert "associations are invalid" in err.value.message and "999" in err.value.message
    assert not err.value.retryable and err.value.status == 400
    assert len(sbx.activities("hubspot")) == before


def test_unknown_hubspot_call_outcome_is_refused_before_any_request(
        sbx: Any, crm_settings: Settings) -> None:
    _, adapter = make_adapter(sbx, crm_settings, "hubspot")
    rid, _ = record_of(sbx, "hubspot")
    with pytest.raises(ProviderInputError, match="unknown call outcome 'Sideways'"):
        adapter.write_call_activity(activity(rid, "contact", disposition="Sideways"), "k1")
    assert sbx.requests("/crm") == []


def test_long_salesforce_description_is_trimmed_to_the_field_limit_with_a_link(
        sbx: Any, crm_settings: Settings) -> None:
    _, adapter = make_adapter(sbx, crm_settings, "salesforce")
    rid, rtype = record_of(sbx, "salesforce", "priya")
    crm_id = adapter.write_call_activity(activity(rid, rtype, body_text="x" * 40_000),
                                         "call:long-sf:v1")
    task = next(a for a in sbx.activities("salesforce") if a["id"] == crm_id)["data"]
    assert len(task["Description"]) <= 32_000
    assert task["Description"].endswith("full report: https://coach.example/r/1)")


def test_tokens_are_encrypted_at_rest(sbx: Any, crm_settings: Settings) -> None:
    tenant = sbx.connect(crm_settings, "salesforce")
    box = SecretBox(encryption_key(crm_settings))
    with db.session_scope() as s:
        row = s.execute(text("SELECT access_token_enc, refresh_token_enc FROM crm_connections "
                             "WHERE tenant_id = :t"), {"t": tenant}).one()
    access, refresh = box.decrypt(row[0]), box.decrypt(row[1])
    assert access.startswith("00D!") and refresh
    assert access not in row[0] and refresh not in row[1]


def test_adapter_for_a_tenant_without_connection_is_none(crm_settings: Settings) -> None:
    from plugin.tenancy import ensure_tenant

    with db.session_scope() as s:
        ensure_tenant(s, "sf:00Dnotconnected", "salesforce")
        assert adapter_for(s, "sf:00Dnotconnected", crm_settings) is None


def test_widget_context_names_the_record_and_scores_the_last_call(
        sbx: Any, crm_settings: Settings) -> None:
    tenant = sbx.connect(crm_settings, "salesforce")
    rid, rtype = record_of(sbx, "salesforce", "maria")
    with db.session_scope() as s:
        for day, scores in ((10, {"discovery": 60, "listening": 68}),
                            (17, {"overall": 72, "discovery": 70})):
            call = Call(tenant_id=tenant, record_id=rid, record_type=rtype, status="analysed",
                        started_at=datetime(2026, 11, day, 10, tzinfo=UTC))
            s.add(call)
            s.flush()
            s.add(Report(tenant_id=tenant, call_id=call.id, version=1,
                         data={"scores": scores, "tips": ["Ask who owns the budget"]}))
    with db.session_scope() as s:
        ctx = widget_context(s, tenant, rid, rtype, crm_settings)
    assert ctx["record"]["name"] == "Maria Chen" and ctx["record"]["company"] == "Acme Logistics"
    assert ctx["last_call"]["score"] == 72 and ctx["last_call"]["date"] == "2026-11-17"
    assert ctx["last_call"]["tips"] == ["Ask who owns the budget"]
    assert ctx["trend"] == [{"date": "2026-11-10", "score": 64},
                            {"date": "2026-11-17", "score": 72}]


def test_hubspot_write_creates_the_unique_call_key_property_on_a_fresh_portal(
        sbx: Any, crm_settings: Settings) -> None:
    # given a portal where Sales Coach's custom call property does not exist yet
    sbx.admin("DELETE", "/properties/calls/salescoach_call_key")
    tenant, adapter = make_adapter(sbx, crm_settings, "hubspot")
    rid, rtype = record_of(sbx, "hubspot", "priya")
    try:
        # when a call is written twice with one key
        first = adapter.write_call_activity(activity(rid, rtype), "call:fresh-portal:v1")
        second = adapter.write_call_activity(activity(rid, rtype), "call:fresh-portal:v1")
        # then the property was created as a unique value and guards the key
        assert first == second
        created = [r for r in sbx.requests("/crm/v3/properties") if r["method"] == "POST"]
        assert [r["status"] for r in created] == [201]
        prop = sbx.handle.state.store.meta("hs_custom_properties")
        assert '"salescoach_call_key"' in prop and '"hasUniqueValue": true' in prop
    finally:
        sbx.reset()


@pytest.mark.parametrize("kind", KINDS)
def test_a_long_retry_after_is_handed_to_the_caller_instead_of_slept(
        sbx: Any, crm_settings: Settings, kind: str) -> None:
    # given the CRM asks us to come back in two minutes
    _, adapter = make_adapter(sbx, crm_settings, kind)
    sleeps = SleepLog()
    adapter.sleep = sleeps  # type: ignore[attr-defined]
    sbx.fault(path=API_PREFIX[kind], status=429, retry_after=120, count=1)
    rid, rtype = record_of(sbx, kind, "tom")
    # when we read, the error says when to retry and nothing was slept in-process
    with pytest.raises(ProviderUnavailable) as err:
        adapter.customer_context(rid, rtype)
    assert err.value.retry_after == 120 and err.value.status == 429 and sleeps.waits == []
    assert len(sbx.requests(API_PREFIX[kind])) == 1


def test_widget_context_answers_fast_with_a_warning_when_the_crm_is_down(
        sbx: Any, crm_settings: Settings) -> None:
    # given a connected tenant whose CRM answers 503 to everything
    tenant = sbx.connect(crm_settings, "hubspot")
    rid = sbx.person("sofia")["hs_id"]
    sbx.fault(path="/crm/v3", status=503, count=0)
    try:
        with db.session_scope() as s:
            ctx = widget_context(s, tenant, rid, "contact", crm_settings)
        tries = sbx.requests("/crm/v3")
    finally:
        sbx.clear()
    # then the widget still gets the record, with the CRM's complaint, after two tries only
    assert [r["status"] for r in tries] == [503, 503]
    assert ctx["record"]["id"] == rid and ctx["record"]["name"] == ""
    assert "HubSpot" in ctx["record"]["warning"]
    assert ctx["last_call"] is None and ctx["trend"] == []


def test_a_tenant_with_both_crms_routes_each_record_to_its_own_crm(
        sbx: Any, crm_settings: Settings) -> None:
    # given a tenant (like the demo) connected to Salesforce and HubSpot
    tenant = sbx.connect(crm_settings, "salesforce")
    sbx.connect(crm_settings, "hubspot", tenant_id=tenant)
    maria = sbx.person("maria")
    # when callers ask for "the" adapter without saying which CRM
    with db.session_scope() as s:
        adapter = adapter_for(s, tenant, crm_settings)
    assert adapter is not None
    # then Salesforce ids go to Salesforce and HubSpot ids to HubSpot
    assert adapter.customer_context(maria["sf_id"], "Contact").crm == "salesforce"
    assert adapter.customer_context(maria["hs_id"], "contact").crm == "hubspot"
    crm_id = adapter.write_call_activity(activity(maria["hs_id"], "contact"), "call:route:v1")
    assert any(a["id"] == crm_id for a in sbx.activities("hubspot"))


def test_a_hubspot_token_known_to_be_expired_is_refreshed_before_the_call(
        sbx: Any, crm_settings: Settings) -> None:
    # given a stored HubSpot connection whose expiry time has passed
    tenant = sbx.connect(crm_settings, "hubspot")
    with db.session_scope() as s:
        conn = s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant))
        assert conn is not None
        conn.expires_at = datetime(2020, 1, 1, tzinfo=UTC)
    with db.session_scope() as s:
        adapter = adapter_for(s, tenant, crm_settings)
    assert adapter is not None
    # when it reads, no request is made with the stale token (no 401), and the new expiry is saved
    adapter.customer_context(sbx.person("tom")["hs_id"], "contact")
    assert 401 not in [r["status"] for r in sbx.requests("/crm/v3")]
    assert [r["path"] for r in sbx.requests("/oauth/v1/token")] == ["/oauth/v1/token"]
    with db.session_scope() as s:
        conn = s.scalar(select(CrmConnection).where(CrmConnection.tenant_id == tenant))
        assert conn is not None and conn.expires_at is not None
        assert conn.expires_at.replace(tzinfo=UTC) > datetime.now(UTC)
