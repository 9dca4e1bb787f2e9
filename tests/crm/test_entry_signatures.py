"""Signature checks of the CRM entry points as pure functions: canvas, Apex, HubSpot v3."""

from __future__ import annotations

import base64
import json
import time

import pytest

from plugin.crm_auth import (
    SignatureError,
    hubspot_signing_uri,
    salesforce_id18,
    sign_apex_callout,
    sign_canvas_request,
    sign_hubspot_v3,
    verify_apex_callout,
    verify_canvas_request,
    verify_hubspot_v3,
)

SECRET = "consumer-secret-1"


def envelope(**over: object) -> dict[str, object]:
    env: dict[str, object] = {
        "algorithm": "HMACSHA256", "issuedAt": int(time.time()), "userId": "005A",
        "context": {"organization": {"organizationId": "00DORG"}, "user": {"userId": "005A"},
                    "environment": {"record": {"Id": "003X", "attributes": {"type": "Contact"}}}},
    }
    env.update(over)
    return env


def test_canvas_request_signed_with_the_consumer_secret_is_decoded() -> None:
    env = verify_canvas_request(sign_canvas_request(envelope(), SECRET), SECRET)
    assert env["context"]["organization"]["organizationId"] == "00DORG"  # type: ignore[index]


def test_canvas_signature_is_standard_base64_hmac_over_the_payload_as_sent() -> None:
    signed = sign_canvas_request(envelope(), SECRET)
    sig, payload = signed.split(".", 1)
    import hashlib
    import hmac

    assert sig == base64.b64encode(hmac.new(SECRET.encode(), payload.encode(),
                                            hashlib.sha256).digest()).decode()


@pytest.mark.parametrize("mutate, reason", [
    (lambda s: s.split(".", 1)[0] + "." + base64.b64encode(
        json.dumps(envelope(userId="005EVIL")).encode()).decode(), "does not match"),
    (lambda s: s.replace(".", "", 1), "must be '<signature>.<payload>'"),
    (lambda s: "", "missing signed_request"),
    (lambda s: "." + s.split(".", 1)[1], "must be '<signature>.<payload>'"),
])
def test_tampered_or_malformed_canvas_request_is_refused(mutate: object, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify_canvas_request(mutate(sign_canvas_request(envelope(), SECRET)), SECRET)  # type: ignore[operator]


def test_canvas_request_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify_canvas_request(sign_canvas_request(envelope(), "other"), SECRET)


def test_stale_canvas_request_is_refused_but_milliseconds_are_understood() -> None:
    old = int(time.time()) - 3600
    with pytest.raises(SignatureError, match="stale"):
        verify_canvas_request(sign_canvas_request(envelope(issuedAt=old), SECRET), SECRET)
    fresh_ms = int(time.time() * 1000)
    verify_canvas_request(sign_canvas_request(envelope(issuedAt=fresh_ms), SECRET), SECRET)


@pytest.mark.parametrize("algorithm", ["HMACSHA1", "none", None])
def test_canvas_request_with_unknown_algorithm_is_refused(algorithm: object) -> None:
    with pytest.raises(SignatureError, match="unsupported algorithm"):
        verify_canvas_request(sign_canvas_request(envelope(algorithm=algorithm), SECRET), SECRET)


def test_canvas_request_missing_issued_at_is_refused() -> None:
    env = envelope()
    del env["issuedAt"]
    with pytest.raises(SignatureError, match="missing issuedAt"):
        verify_canvas_request(sign_canvas_request(env, SECRET), SECRET)


def test_canvas_payload_that_is_not_base64_json_is_refused_even_when_signed() -> None:
    import hashlib
    import hmac

    def signed(payload: str) -> str:
        sig = base64.b64encode(hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256)
                               .digest()).decode()
        return sig + "." + payload

    with pytest.raises(SignatureError, match="not valid base64"):
        verify_canvas_request(signed("not*base64"), SECRET)
    with pytest.raises(SignatureError, match="not valid JSON"):
        verify_canvas_request(signed(base64.b64encode(b"{oops").decode()), SECRET)
    with pytest.raises(SignatureError, match="not a JSON object"):
        verify_canvas_request(signed(base64.b64encode(b"[1]").decode()), SECRET)


def apex_body(**over: object) -> bytes:
    body = {"orgId": "00DORG", "userId": "005A", "recordId": "003X", "objectApiName": "Contact",
            "issuedAt": int(time.time() * 1000)}
    body.update(over)
    return json.dumps(body).encode()


def test_apex_callout_with_matching_hmac_header_is_accepted() -> None:
    body = apex_body()
    assert verify_apex_callout(body, sign_apex_callout(body, SECRET), SECRET)["orgId"] == "00DORG"


def test_apex_callout_tampered_wrong_secret_missing_or_stale_is_refused() -> None:
    body = apex_body()
    with pytest.raises(SignatureError, match="does not match"):
        verify_apex_callout(body.replace(b"003X", b"003Y"), sign_apex_callout(body, SECRET), SECRET)
    with pytest.raises(SignatureError, match="does not match"):
        verify_apex_callout(body, sign_apex_callout(body, "other"), SECRET)
    with pytest.raises(SignatureError, match="missing X-SalesCoach-Signature"):
        verify_apex_callout(body, None, SECRET)
    stale = apex_body(issuedAt=int(time.time() * 1000) - 3_600_000)
    with pytest.raises(SignatureError, match="stale"):
        verify_apex_callout(stale, sign_apex_callout(stale, SECRET), SECRET)
    no_time = json.dumps({"orgId": "00DORG"}).encode()
    with pytest.raises(SignatureError, match="missing issuedAt"):
        verify_apex_callout(no_time, sign_apex_callout(no_time, SECRET), SECRET)


URI = "https://coach.example.com/hubspot/card/context?portalId=42&userId=7"


def test_hubspot_v3_signature_made_like_hubspot_is_valid() -> None:
    body = '{"objectId":"101"}'
    sig, ts = sign_hubspot_v3("POST", URI, body, SECRET)
    verify_hubspot_v3("POST", URI, body.encode(), sig, ts, SECRET)


@pytest.mark.parametrize("case, reason", [
    ("body", "does not match"), ("secret", "does not match"), ("uri", "does not match"),
    ("stale", "older than 300 s"), ("no-signature", "missing X-HubSpot-Signature-v3"),
    ("no-timestamp", "missing X-HubSpot-Request-Timestamp"), ("future", "in the future"),
    ("junk-signature", "does not match"),
])
def test_hubspot_v3_bad_requests_are_refused_with_the_reason(case: str, reason: str) -> None:
    body = '{"objectId":"101"}'
    ts_ms = int(time.time() * 1000)
    if case == "stale":
        ts_ms -= 301_000
    if case == "future":
        ts_ms += 3_600_000
    sig, ts = sign_hubspot_v3("POST", URI, body, "other" if case == "secret" else SECRET, ts_ms)
    sent_body = '{"objectId":"102"}' if case == "body" else body
    uri = URI.replace("42", "43") if case == "uri" else URI
    header_sig: str | None = None if case == "no-signature" else sig
    if case == "junk-signature":
        header_sig = "é" * 10
    header_ts: str | None = None if case == "no-timestamp" else ts
    with pytest.raises(SignatureError, match=reason):
        verify_hubspot_v3("POST", uri, sent_body.encode(), header_sig, header_ts, SECRET)


def test_hubspot_signing_uri_uses_public_base_url_and_decodes_like_hubspot() -> None:
    assert (hubspot_signing_uri("https://coach.example.com/", "/hubspot/card/context",
                                "userEmail=a%40b.com&x=%3A")
            == "https://coach.example.com/hubspot/card/context?userEmail=a@b.com&x=:")


def test_fifteen_char_salesforce_ids_become_their_eighteen_char_form() -> None:
    assert salesforce_id18("0015000000Gv7qJ") == "0015000000Gv7qJAAR"
    assert salesforce_id18("0015000000Gv7qJAAR") == "0015000000Gv7qJAAR"
    assert salesforce_id18("00DCANVAS1") == "00DCANVAS1"
