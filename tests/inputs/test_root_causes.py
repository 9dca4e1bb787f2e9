"""Each root cause of a 5xx named in issue 17: the bad input answers a 4xx that says why."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest

from plugin.crm_auth import sign_canvas_request, sign_hubspot_v3
from tests.inputs.conftest import BASE, HS_SECRET, SF_SECRET


def error(resp: Any) -> dict[str, Any]:
    body = resp.get_json()
    assert body and "error" in body, resp.get_data(as_text=True)[:300]
    return dict(body["error"])


def post_json(client: Any, path: str, raw: str | bytes, headers: dict[str, str]) -> Any:
    return client.post(path, data=raw, content_type="application/json", headers=headers)


def test_nested_json_is_refused_before_parsing(client: Any, admin_headers: dict[str, str]) -> None:
    for raw in ("[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        resp = post_json(client, "/api/v1/popout", raw, admin_headers)
        assert resp.status_code == 400
        assert "nested deeper" in error(resp)["message"]


@pytest.mark.parametrize("path,method", [
    ("/api/v1/popout", "post"), ("/api/v1/live/twilio", "post"),
    ("/api/v1/admin/settings", "put"), ("/api/v1/practice/sessions", "post"),
    ("/admin/playbooks/active", "post"), ("/api/v1/nudges/1/rating", "post"),
])
def test_an_array_where_an_object_is_expected(client: Any, admin_headers: dict[str, str],
                                              path: str, method: str) -> None:
    resp = client.open(path, method=method, data="[1, 2]", content_type="application/json",
                       headers=admin_headers)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "JSON object" in error(resp)["message"]


def test_a_field_of_the_wrong_type_is_named(client: Any, admin_headers: dict[str, str]) -> None:
    resp = client.post("/api/v1/popout", json={"record_id": ["003R1"]}, headers=admin_headers)
    assert resp.status_code == 400
    assert error(resp)["details"]["field"] == "record_id"


@pytest.mark.parametrize("query", ["limit=١٢", "limit=²", "limit=1e3", "limit=12abc"])
def test_unicode_digits_are_not_integers(client: Any, admin_headers: dict[str, str],
                                         query: str) -> None:
    resp = client.get(f"/api/v1/calls?{query}", headers=admin_headers)
    assert resp.status_code == 400
    assert error(resp)["details"]["field"] == "limit"


def test_unicode_digits_in_a_path_and_a_body(client: Any, admin_headers: dict[str, str]) -> None:
    assert client.post("/api/v1/nudges/١٢/rating", json={"rating": 1},
                       headers=admin_headers).status_code == 404
    resp = client.post("/admin/playbooks/active", json={"playbook_id": "١٢"},
                       headers=admin_headers)
    assert resp.status_code == 400 and error(resp)["details"]["field"] == "playbook_id"
    resp = client.get("/api/v1/calls/x/report?version=²", headers=admin_headers)
    assert resp.status_code in (400, 404)


def test_integers_over_64_bits_never_reach_the_database(client: Any,
                                                        admin_headers: dict[str, str]) -> None:
    big = str(2**64)
    assert client.post(f"/api/v1/nudges/{big}/rating", json={"rating": 1},
                       headers=admin_headers).status_code == 404
    assert client.post(f"/api/v1/admin/outbox/{big}/retry",
                       headers=admin_headers).status_code == 404
    resp = post_json(client, "/admin/playbooks/active", f'{{"playbook_id": {big}}}',
                     admin_headers)
    assert resp.status_code == 400 and "64-bit" in error(resp)["message"]
    resp = client.post("/admin/playbooks/active", data={"playbook_id": big},
                       headers=admin_headers)
    assert resp.status_code == 400
    resp = client.get(f"/api/v1/calls?limit={big}", headers=admin_headers)
    assert resp.status_code == 400


def test_ids_over_32_bits_never_reach_an_integer_column(client: Any,
                                                         admin_headers: dict[str, str]) -> None:
    """Row ids are INTEGER (32 bits on PostgreSQL): a larger id is a 404 or a 400."""
    big = 2**31
    assert client.post(f"/api/v1/nudges/{big}/rating", json={"rating": 1},
                       headers=admin_headers).status_code == 404
    assert client.delete(f"/api/v1/practice/admin/assignments/{big}",
                         headers=admin_headers).status_code == 404
    assert client.post(f"/api/v1/admin/outbox/{big}/retry",
                       headers=admin_headers).status_code == 404
    assert client.post("/admin/playbooks/active", json={"playbook_id": big},
                       headers=admin_headers).status_code == 400
    assert client.get(f"/admin/playbooks/{big}.yaml", headers=admin_headers).status_code == 404
    assert client.post("/api/v1/practice/admin/assignments", json={
        "scenario_id": "cfo-discovery", "user_ids": [big]},
        headers=admin_headers).status_code == 400
    assert client.post("/api/v1/practice/drills", json={
        "customer_line": "Too expensive.", "text": "I hear you.", "previous_id": big},
        headers=admin_headers).status_code == 400
    assert client.get(f"/api/v1/privacy/audit?before={big}",
                      headers=admin_headers).status_code == 400


def test_lone_surrogates_are_refused(client: Any, admin_headers: dict[str, str]) -> None:
    resp = post_json(client, "/api/v1/live/twilio", '{"record_type": "\\ud800"}', admin_headers)
    assert resp.status_code == 400 and "surrogate" in error(resp)["message"]
    resp = post_json(client, "/api/v1/live/twilio", b'{"record_type": "\xed\xa0\x80"}',
                     admin_headers)
    assert resp.status_code == 400


def test_nul_bytes_are_refused_everywhere(client: Any, admin_headers: dict[str, str]) -> None:
    resp = post_json(client, "/api/v1/practice/tts", '{"text": "a\\u0000b"}', admin_headers)
    assert resp.status_code == 400 and "NUL" in error(resp)["message"]
    resp = client.get("/api/v1/live/calls?status=%00", headers=admin_headers)
    assert resp.status_code == 400 and error(resp)["details"]["field"] == "status"
    resp = client.get("/api/v1/calls/ab%00cd", headers=admin_headers)
    assert resp.status_code == 400 and error(resp)["details"]["field"] == "call_id"
    resp = client.post("/api/v1/recordings", headers=admin_headers, data={
        "file": (io.BytesIO(b"RIFF"), "call.wav"), "title": "a\x00b"})
    assert resp.status_code == 400 and error(resp)["details"]["field"] == "title"


def test_a_title_longer_than_its_column(client: Any, admin_headers: dict[str, str]) -> None:
    resp = client.post("/api/v1/recordings", headers=admin_headers, data={
        "file": (io.BytesIO(b"RIFF"), "call.wav"), "title": "x" * 256})
    assert resp.status_code == 400
    assert "longer than 255" in error(resp)["message"]


def _canvas(client: Any, envelope: dict[str, Any]) -> Any:
    return client.post("/sf/canvas", data={"signed_request": sign_canvas_request(envelope,
                                                                                 SF_SECRET)},
                       headers={"Accept": "application/json"})


def _envelope(**context: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "user": {"userId": "005U1", "fullName": "Casey Canvas", "email": "casey@example.com"},
        "organization": {"organizationId": "00DMALFORM1", "name": "Canvas Org"},
        "environment": {"record": {"Id": "003R1", "attributes": {"type": "Contact"}}},
    }
    base.update(context)
    return {"algorithm": "HMACSHA256", "issuedAt": int(time.time()), "userId": "005U1",
            "context": base}


@pytest.mark.parametrize("context,field", [
    ({"environment": ["record"]}, "context.environment"),
    ({"environment": {"record": "003R1"}}, "context.environment.record"),
    ({"environment": {"record": {"Id": "003R1", "attributes": "Contact"}}},
     "context.environment.record.attributes"),
    ({"environment": {"parameters": [1]}}, "context.environment.parameters"),
    ({"user": {"userId": "005U1", "fullName": {"first": "C"}}}, "context.user.fullName"),
    ({"user": {"userId": "005U1", "fullName": "x" * 300}}, "context.user.fullName"),
    ({"user": {"userId": "005U1", "email": "a\x00@b.c"}}, "context.user.email"),
    ({"organization": {"organizationId": "00DMALFORM1", "name": 12}},
     "context.organization.name"),
    ({"organization": "00DMALFORM1"}, "context.organization"),
])
def test_malformed_but_signed_canvas_envelopes(client: Any, context: dict[str, Any],
                                               field: str) -> None:
    resp = _canvas(client, _envelope(**context))
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    assert field in error(resp)["message"]


def test_signed_canvas_with_a_huge_or_odd_issued_at(client: Any) -> None:
    for issued in (10**400, -1e20, "١٧٠٠٠٠٠٠٠٠", [1], True):
        envelope = {**_envelope(), "issuedAt": issued}
        try:
            signed = sign_canvas_request(envelope, SF_SECRET)
        except (OverflowError, ValueError):
            continue
        resp = client.post("/sf/canvas", data={"signed_request": signed},
                           headers={"Accept": "application/json"})
        # 401: not a timestamp; 400: the signed payload itself cannot be read (huge integer)
        assert resp.status_code in (400, 401), (issued, resp.get_data(as_text=True)[:200])
        message = error(resp)["message"]
        assert "issuedAt" in message or "64-bit" in message, message


@pytest.mark.parametrize("timestamp", ["-1e20", "1e20", "١٧٠٠٠٠٠٠٠٠٠٠٠", "nan", "-1",
                                       "99999999999999999999999999", " 12"])
def test_hubspot_timestamp_that_is_not_a_timestamp(client: Any, timestamp: str) -> None:
    """Before any auth: a 401 saying what is wrong with the header, never a 500."""
    raw = json.dumps({"objectId": "101", "objectType": "0-1"})
    uri = f"{BASE}/hubspot/card/context?portalId=77&userId=5"
    sig, _ = sign_hubspot_v3("POST", uri, raw, HS_SECRET)
    resp = client.post("/hubspot/card/context?portalId=77&userId=5", data=raw,
                       content_type="application/json",
                       headers={"X-HubSpot-Signature-v3": sig,
                                "X-HubSpot-Request-Timestamp": timestamp})
    assert resp.status_code == 401, resp.get_data(as_text=True)[:200]
    assert "X-HubSpot-Request-Timestamp" in error(resp)["message"] or \
        "timestamp" in error(resp)["message"]


def test_hubspot_signed_body_that_is_nested_or_has_nul(client: Any) -> None:
    for raw in ("[" * 5000 + "]" * 5000, '{"objectId": "\\u0000"}', '{"userEmail": 5}'):
        uri = f"{BASE}/hubspot/card/context?portalId=77&userId=5"
        sig, ts = sign_hubspot_v3("POST", uri, raw, HS_SECRET)
        resp = client.post("/hubspot/card/context?portalId=77&userId=5", data=raw,
                           content_type="application/json",
                           headers={"X-HubSpot-Signature-v3": sig,
                                    "X-HubSpot-Request-Timestamp": ts})
        assert resp.status_code == 400, (raw[:20], resp.get_data(as_text=True)[:200])


def test_errors_carry_no_internals(client: Any, admin_headers: dict[str, str]) -> None:
    """The last-resort handler: whatever escapes a view is a logged 500 with no detail."""
    from flask import Flask

    app: Flask = client.application

    @app.get("/api/v1/_boom_for_test")
    def _boom() -> Any:
        raise RuntimeError("SELECT secret FROM tenants WHERE id = 'x'")

    resp = client.get("/api/v1/_boom_for_test", headers=admin_headers)
    assert resp.status_code == 500
    text = resp.get_data(as_text=True)
    assert "SELECT" not in text and "secret" not in text and "Traceback" not in text
    assert error(resp)["code"] == "internal_error"
