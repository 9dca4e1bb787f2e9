"""The customer in the panel (GET /api/v1/customer) and the record picker
(GET /api/v1/crm/records), over real HTTP against the sandbox's Salesforce and HubSpot APIs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from plugin.crm import adapter_for, widget_context
from plugin.crm.cache import CONTEXT_CACHE
from plugin.db import db
from plugin.providers.crm import CallActivity

KINDS = ["salesforce", "hubspot"]


@pytest.fixture
def sbx(sandbox: Any) -> Any:
    sandbox.reset()
    CONTEXT_CACHE.clear()
    yield sandbox
    sandbox.reset()
    CONTEXT_CACHE.clear()


def _record(sandbox: Any, kind: str, key: str = "maria") -> tuple[str, str]:
    p = sandbox.person(key)
    return (p["sf_id"], p["sf_type"]) if kind == "salesforce" else (p["hs_id"], "contact")


def _headers(app: Any, tenants: Any, tenant_id: str) -> dict[str, str]:
    return dict(tenants.headers(tenants.identity(tenant_id)))


def _own_activities(app: Any, tenant_id: str, kind: str, record: tuple[str, str],
                    n: int) -> None:
    """``n`` call logs written by Sales Coach itself (with its call key), newest of all."""
    settings = app.config["SETTINGS"]
    with db.session_scope() as s:
        adapter = adapter_for(s, tenant_id, settings, kind=kind)
    assert adapter is not None
    for i in range(n):
        adapter.write_call_activity(CallActivity(
            record_id=record[0], record_type=record[1],
            subject=f"Sales Coach report: call {i} (score 40)",
            body_text="Agreed a next step: Sales Coach report. You asked 0 questions. "
                      "Budget and pricing came up. Competitor Gong.",
            body_html="<p>Agreed a next step: Sales Coach report. You asked 0 questions.</p>",
            started_at=datetime.now(UTC), duration_s=60), f"salescoach:test:{kind}:{i}")
    CONTEXT_CACHE.clear()


@pytest.mark.parametrize("kind", KINDS)
def test_the_customer_shows_who_they_are_open_deals_and_a_deduplicated_history(
        app: Any, client: Any, tenants: Any, sbx: Any, kind: str) -> None:
    tenant = sbx.connect(app.config["SETTINGS"], kind)
    rid, rtype = _record(sbx, kind)
    resp = client.get("/api/v1/customer", query_string={"record_id": rid, "record_type": rtype},
                      headers=_headers(app, tenants, tenant))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["connected"] is True
    assert body["record"] == {"id": rid, "type": rtype, "name": "Maria Chen",
                              "company": "Acme Logistics", "title": "VP Operations",
                              "email": body["record"]["email"]}
    assert [d["name"] for d in body["deals"]] == ["Acme Logistics - Coaching Rollout"]
    assert body["deals"][0]["amount"] == 48000 and body["deals"][0]["close_date"]
    # what they raised and when: the demo call first, then discovery, each once
    summaries = [h["summary"] for h in body["history"]]
    assert summaries and summaries[0].startswith("Demo: live coaching")
    assert any(s.startswith("Discovery call") for s in summaries)
    assert len(summaries) == len(set(summaries))
    texts = [h["text"] for h in body["highlights"]]
    assert len(texts) == len(set(texts)) and len({h["topic"] for h in body["highlights"]}) \
        == len(body["highlights"])
    assert any("price compared with Gong" in t for t in texts)
    assert all(set(h) == {"topic", "text", "date"} for h in body["highlights"])
    # who decides, and the dates that matter (soonest first)
    assert "Tom Becker (CFO)" in body["decision_makers"]
    dates = [d["date"] for d in body["key_dates"]]
    assert dates == sorted(dates)
    assert any(d["what"] == "Acme Logistics - Coaching Rollout closes" for d in body["key_dates"])
    assert any("end of Q1" in d["what"] for d in body["key_dates"])


@pytest.mark.parametrize("kind", KINDS)
def test_our_own_call_logs_never_show_as_history_or_crowd_it_out(
        app: Any, client: Any, tenants: Any, sbx: Any, kind: str) -> None:
    tenant = sbx.connect(app.config["SETTINGS"], kind)
    rid, rtype = _record(sbx, kind)
    _own_activities(app, tenant, kind, (rid, rtype), 12)  # more than a history page
    body = client.get("/api/v1/customer", query_string={"record_id": rid, "record_type": rtype},
                      headers=_headers(app, tenants, tenant)).get_json()
    everything = str(body)
    assert "Sales Coach report" not in everything and "0 questions" not in everything
    summaries = [h["summary"] for h in body["history"]]
    assert any(s.startswith("Demo: live coaching") for s in summaries)
    assert any(s.startswith("Discovery call") for s in summaries)
    # the coach's context and the widget read the same real history
    settings = app.config["SETTINGS"]
    with db.session_scope() as s:
        adapter = adapter_for(s, tenant, settings, kind=kind)
        assert adapter is not None
        ctx = adapter.customer_context(rid, rtype)
        card = widget_context(s, tenant, rid, rtype, settings)
    assert not any("Sales Coach" in h or "next step: Sales Coach" in h for h in ctx.highlights)
    assert len(ctx.highlights) == len(set(ctx.highlights))
    assert not any(a.get("call_key") for a in ctx.activities)
    highlights = card["record"]["highlights"]
    assert highlights and not any("Sales Coach" in h for h in highlights)
    assert len(highlights) == len(set(highlights))


@pytest.mark.parametrize("kind,record_id", [("salesforce", "003000000000000AAA"),
                                            ("hubspot", "987654321")])
def test_a_record_the_tenant_cannot_see_is_404(app: Any, client: Any, tenants: Any, sbx: Any,
                                              kind: str, record_id: str) -> None:
    tenant = sbx.connect(app.config["SETTINGS"], kind)
    resp = client.get("/api/v1/customer", query_string={"record_id": record_id},
                      headers=_headers(app, tenants, tenant))
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("query,code", [
    ({}, "missing_record_id"),
    ({"record_id": "not an id!"}, "invalid_record_id"),
    ({"record_id": "003" + "x" * 40}, "invalid_record_id"),
    ({"record_id": "12345", "record_type": "ticket"}, "invalid_record_type"),
    ({"record_id": "003000000000000AAA", "record_type": "Case"}, "invalid_record_type"),
])
def test_bad_record_ids_are_400(app: Any, client: Any, tenants: Any, query: dict[str, str],
                                code: str) -> None:
    resp = client.get("/api/v1/customer", query_string=query,
                      headers=_headers(app, tenants, "t-customer-bad"))
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == code


def test_without_a_crm_connection_the_customer_is_empty_and_says_so(
        client: Any, tenants: Any) -> None:
    resp = client.get("/api/v1/customer", query_string={"record_id": "12345"},
                      headers=_headers(None, tenants, "t-customer-unconnected"))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["connected"] is False and body["deals"] == body["history"] == []
    assert body["highlights"] == body["decision_makers"] == body["key_dates"] == []
    found = client.get("/api/v1/crm/records", query_string={"q": "maria"},
                       headers=_headers(None, tenants, "t-customer-unconnected")).get_json()
    assert found == {"records": [], "connected": False}


def test_the_customer_api_needs_a_session(client: Any) -> None:
    assert client.get("/api/v1/customer?record_id=12345").status_code == 401
    assert client.get("/api/v1/crm/records?q=maria").status_code == 401


@pytest.mark.parametrize("kind", KINDS)
def test_the_record_picker_searches_the_tenants_crm(app: Any, client: Any, tenants: Any,
                                                    sbx: Any, kind: str) -> None:
    tenant = sbx.connect(app.config["SETTINGS"], kind)
    headers = _headers(app, tenants, tenant)
    resp = client.get("/api/v1/crm/records", query_string={"q": "mar", "limit": "20"},
                      headers=headers)
    assert resp.status_code == 200, resp.get_json()
    records = resp.get_json()["records"]
    rid, rtype = _record(sbx, kind)
    assert {"id": rid, "type": rtype, "name": "Maria Chen", "company": "Acme Logistics"} \
        in records
    companies = client.get("/api/v1/crm/records", query_string={"q": "acme"},
                           headers=headers).get_json()["records"]
    assert {r["type"] for r in companies} >= ({"Account", "Opportunity"} if kind == "salesforce"
                                              else {"company", "deal"})
    assert all(set(r) == {"id", "type", "name", "company"} for r in companies)
    none = client.get("/api/v1/crm/records", query_string={"q": "zzyzx nobody"},
                      headers=headers).get_json()
    assert none["records"] == []
    # the search went through the vendor's search API
    paths = [r["path"] for r in sbx.requests()]
    assert any(p.endswith("/search/") or p.endswith("/search") for p in paths)


@pytest.mark.parametrize("query,code", [
    ({"q": "m"}, "invalid_query"), ({"q": "x" * 101}, "invalid_query"),
    ({"q": "**"}, "invalid_query"), ({"q": "maria", "limit": "0"}, "invalid_limit"),
    ({"q": "maria", "limit": "abc"}, "invalid_limit"), ({"q": "maria", "limit": "51"},
                                                        "invalid_limit"),
])
def test_bad_searches_are_400(client: Any, tenants: Any, query: dict[str, str],
                              code: str) -> None:
    resp = client.get("/api/v1/crm/records", query_string=query,
                      headers=_headers(None, tenants, "t-customer-bad"))
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == code


@pytest.mark.parametrize("kind", KINDS)
def test_reserved_search_characters_reach_the_crm_escaped(app: Any, client: Any, tenants: Any,
                                                          sbx: Any, kind: str) -> None:
    tenant = sbx.connect(app.config["SETTINGS"], kind)
    resp = client.get("/api/v1/crm/records", query_string={"q": "o'neill (globex)"},
                      headers=_headers(app, tenants, tenant))
    assert resp.status_code == 200, resp.get_json()


def test_a_tenant_with_both_crms_searches_both(app: Any, client: Any, tenants: Any,
                                               sbx: Any) -> None:
    settings = app.config["SETTINGS"]
    tenant = sbx.connect(settings, "salesforce")
    sbx.connect(settings, "hubspot", tenant_id=tenant)
    records = client.get("/api/v1/crm/records", query_string={"q": "maria chen"},
                         headers=_headers(app, tenants, tenant)).get_json()["records"]
    maria = sbx.person("maria")
    assert {(r["id"], r["type"]) for r in records} == {(maria["sf_id"], maria["sf_type"]),
                                                      (maria["hs_id"], "contact")}
    # and each record's customer view comes from its own CRM
    for rid in (maria["sf_id"], maria["hs_id"]):
        body = client.get("/api/v1/customer", query_string={"record_id": rid},
                          headers=_headers(app, tenants, tenant)).get_json()
        assert body["record"]["name"] == "Maria Chen" and body["connected"] is True
