"""Fuzzing the parsers that take input from outside: any input is a clean refusal
(``SignatureError``, ``PlaybookError``, ``SourceError`` or a 4xx), never another exception."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from plugin.coach.playbook import DEFAULT_PLAYBOOK_PATH, PlaybookError, load_playbook
from plugin.crm_auth import (
    SignatureError,
    sign_apex_callout,
    sign_canvas_request,
    sign_hubspot_v3,
    verify_apex_callout,
    verify_canvas_request,
    verify_hubspot_v3,
)
from plugin.live.connection import Connection
from plugin.live.sources import PanelSource, SourceError, TwilioSource
from plugin.safejson import UnsafeInput
from plugin.safejson import loads as safe_loads
from plugin.security import Identity
from tests.inputs.conftest import BASE, HS_SECRET, SF_SECRET

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
           | st.sampled_from(["", "\x00", "\ud800", "١٢", "x" * 300, "-1e20", "HMACSHA256"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=24)
KEYS = st.sampled_from(["context", "user", "organization", "environment", "record", "Id",
                        "attributes", "type", "parameters", "userId", "organizationId", "name",
                        "fullName", "email", "issuedAt", "algorithm", "orgId", "recordId",
                        "objectApiName", "portalId", "objectId", "objectType", "userEmail"])
SHAPED = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(KEYS, inner, max_size=5), max_leaves=30)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


# Signed CRM requests ----------------------------------------------------------------------

@FUZZ
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_canvas_parser_refuses_any_text(text: str) -> None:
    try:
        verify_canvas_request(text, SF_SECRET)
    except SignatureError as exc:
        assert exc.reason


@FUZZ
@given(SHAPED)
def test_canvas_parser_with_signed_odd_envelopes(value: Any) -> None:
    payload = base64.b64encode(_dumps(value)).decode()
    signed = sign_apex_callout(payload.encode(), SF_SECRET) + "." + payload
    try:
        envelope = verify_canvas_request(signed, SF_SECRET)
    except SignatureError as exc:
        assert exc.status in (400, 401)
        return
    assert isinstance(envelope, dict)


@FUZZ
@given(context=SHAPED, user_id=SCALARS)
def test_canvas_route_with_signed_odd_contexts(client: Any, context: Any, user_id: Any) -> None:
    envelope = {"algorithm": "HMACSHA256", "issuedAt": int(time.time()), "userId": user_id,
                "context": context}
    try:
        signed = sign_canvas_request(envelope, SF_SECRET)
    except ValueError:  # a lone surrogate cannot even be signed as UTF-8 JSON
        return
    resp = client.post("/sf/canvas", data={"signed_request": signed},
                       headers={"Accept": "application/json"})
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]


@FUZZ
@given(body=st.binary(max_size=200) | SHAPED.map(_dumps), signed=st.booleans())
def test_apex_callout_parser(client: Any, body: bytes, signed: bool) -> None:
    signature = sign_apex_callout(body, SF_SECRET) if signed else "x"
    try:
        verify_apex_callout(body, signature, SF_SECRET)
    except SignatureError as exc:
        assert exc.reason
    resp = client.post("/sf/widget/context", data=body, content_type="application/json",
                       headers={"X-SalesCoach-Signature": signature})
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=30)


@FUZZ
@given(timestamp=HEADER_TEXT | st.integers().map(str) | st.floats().map(str),
       signature=HEADER_TEXT, body=st.binary(max_size=80))
def test_hubspot_parser_refuses_any_header(timestamp: str, signature: str, body: bytes) -> None:
    uri = f"{BASE}/hubspot/card/context"
    try:
        verify_hubspot_v3("POST", uri, body, signature, timestamp, HS_SECRET)
    except SignatureError as exc:
        assert exc.reason


@FUZZ
@given(body=SHAPED, query=st.dictionaries(st.sampled_from(["portalId", "userId", "userEmail"]),
                                          HEADER_TEXT, max_size=3))
def test_hubspot_route_with_signed_odd_bodies(client: Any, body: Any,
                                              query: dict[str, str]) -> None:
    from urllib.parse import urlencode

    raw = _dumps(body)
    qs = urlencode(query)
    uri = f"{BASE}/hubspot/card/context" + (f"?{qs}" if qs else "")
    try:
        sig, ts = sign_hubspot_v3("POST", uri, raw.decode("utf-8"), HS_SECRET)
    except UnicodeDecodeError:
        return
    resp = client.post("/hubspot/card/context" + (f"?{qs}" if qs else ""), data=raw,
                       content_type="application/json",
                       headers={"X-HubSpot-Signature-v3": sig,
                                "X-HubSpot-Request-Timestamp": ts})
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]


# Playbook YAML ----------------------------------------------------------------------------

DEFAULT_LINES = DEFAULT_PLAYBOOK_PATH.read_text(encoding="utf-8").splitlines()


@FUZZ
@given(st.text(max_size=400))
def test_playbook_loader_refuses_any_text(text: str) -> None:
    try:
        load_playbook(text)
    except PlaybookError as exc:
        assert str(exc)


@FUZZ
@given(JSON)
def test_playbook_loader_with_any_yaml_structure(value: Any) -> None:
    try:
        text = yaml.safe_dump(value, allow_unicode=True)
    except yaml.YAMLError:
        return
    try:
        load_playbook(text)
    except PlaybookError as exc:
        assert str(exc)


@FUZZ
@given(line=st.integers(min_value=0, max_value=len(DEFAULT_LINES) - 1),
       replacement=st.text(max_size=60) | st.sampled_from(
           ["  - &a [*a]", "  x: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "  weight: 1e999",
            "  weight: " + "9" * 5000, "  - !!python/object:os.system x", "\t", "? [a]\n: b"]))
def test_playbook_loader_with_a_mutated_default(line: int, replacement: str) -> None:
    lines = list(DEFAULT_LINES)
    lines[line] = replacement
    try:
        load_playbook("\n".join(lines))
    except PlaybookError as exc:
        assert str(exc)


# The /ws/calls and /ws/twilio message parsers -------------------------------------------

PANEL_MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(["start", "stop", "ping", "watch", "ack", "x"]) | SCALARS},
    optional={k: SHAPED for k in ("call_id", "record_id", "record_type", "title", "channels",
                                  "sample_rate", "last_seq", "last_nudge_id", "token")})


@FUZZ
@given(messages=st.lists(PANEL_MESSAGES.map(_dumps) | st.binary(max_size=60), max_size=4),
       binary=st.lists(st.binary(max_size=40), max_size=3))
def test_panel_socket_parser(messages: list[bytes], binary: list[bytes]) -> None:
    source = PanelSource()
    for raw in messages:
        with contextlib.suppress(SourceError, UnicodeDecodeError):
            source.parse_text(raw.decode("utf-8", "surrogatepass"))
    for data in binary:
        with contextlib.suppress(SourceError):
            source.parse_binary(data)


TWILIO_MESSAGES = st.fixed_dictionaries(
    {"event": st.sampled_from(["connected", "start", "media", "mark", "stop", "dtmf", "x"])},
    optional={"start": SHAPED | st.fixed_dictionaries(
        {"mediaFormat": st.just({"encoding": "audio/x-mulaw", "sampleRate": 8000}),
         "customParameters": SHAPED}), "media": SHAPED, "mark": SHAPED, "streamSid": SHAPED})


@FUZZ
@given(st.lists(TWILIO_MESSAGES.map(_dumps), max_size=4))
def test_twilio_socket_parser(messages: list[bytes]) -> None:
    source = TwilioSource()
    for raw in messages:
        with contextlib.suppress(SourceError):
            source.parse_text(raw.decode("utf-8", "surrogatepass"))


def test_socket_parser_refuses_deep_nul_and_huge_numbers() -> None:
    for text, code in (("[" * 5000, "bad_json"), ('{"type":"start","title":"\\u0000"}',
                                                      "bad_json"),
                       ('{"type":"start","last_seq":' + str(2**64) + "}", "bad_json")):
        try:
            PanelSource().parse_text(text)
        except SourceError as exc:
            assert exc.code == code
        else:
            raise AssertionError(f"accepted {text[:30]}")


def test_safe_json_refusals_name_the_field() -> None:
    for raw, words in (('{"a": {"b": "\\u0000"}}', "a.b contains a NUL"),
                       ('{"a": ["\\udc00"]}', "a[0] is not valid Unicode"),
                       ('{"a": 1e999}', "out of range"), ('{"a": NaN}', "NaN")):
        try:
            safe_loads(raw)
        except UnsafeInput as exc:
            assert words in exc.message, exc.message
        else:
            raise AssertionError(raw)


class _FailingRegistry:
    """A call registry whose database refuses the start (as PostgreSQL did for a NUL)."""

    def start(self, *args: Any) -> Any:
        raise OperationalError("INSERT INTO calls (id, title) VALUES (%(id)s, %(title)s)",
                               {"id": "c1", "title": "secret title"}, Exception("boom"))


def test_websocket_start_error_sends_no_sql(caplog: Any) -> None:
    sent: list[str] = []
    closed: list[tuple[int, str]] = []
    conn = Connection(source=PanelSource(), send=sent.append,
                      close=lambda code, reason: closed.append((code, reason)),
                      registry=_FailingRegistry(),  # type: ignore[arg-type]
                      identity=Identity(tenant_id="demo", user_id=1))
    conn.on_text('{"type": "start", "title": "hello"}')
    events = [json.loads(s) for s in sent]
    assert events and events[0]["code"] == "start_failed"
    everything = json.dumps(events) + json.dumps(closed)
    assert "INSERT" not in everything and "secret title" not in everything
    assert closed and closed[0][0] == 1011
    assert "INSERT INTO calls" in caplog.text  # the details stay in the server log
