"""Walls to the rep, over every route of ``app.url_map`` and every live-socket message type.

One rep owns a call (turns, nudges, report, recording, outbox row) and a practice session.
Another tenant's rep and admin, another rep of the same tenant (also one of the owner's own
team), and the manager of another team must get 404 (never 403) and never the object's data;
the manager of the owner's team and the tenant's admin may read it, and only the owner and
admins may change it. A route added to the app without a line here fails the test.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from websockets.sync.client import connect

from plugin.db import db
from plugin.live.sources import PANEL_MESSAGE_TYPES
from plugin.models import Call, Nudge, OutboxItem, Recording, Team, Turn, User
from plugin.pipeline import stages
from plugin.security import Identity
from plugin.tenancy import ensure_tenant
from tests.support import serve_wsgi

SECRET = "Nobody else may read: the budget is 987654 dollars"
TITLE = "Walled discovery call 4242"


@dataclass
class World:
    people: dict[str, Identity]
    call_id: str  # ended, analysed (report v1)
    live_id: str  # status live, no process holds it
    nudge_id: int
    recording_id: str
    outbox_id: int
    practice_id: str


def _user(s: Any, tenant: str, crm_id: str, role: str, team: Team | None) -> Identity:
    user = User(tenant_id=tenant, crm_user_id=crm_id, name=f"User {crm_id}", role=role,
                team_id=team.id if team else None)
    s.add(user)
    s.flush()
    return Identity(tenant_id=tenant, user_id=user.id, crm_user_id=crm_id, name=user.name,
                    role=role)


def _call(s: Any, owner: Identity, status: str) -> str:
    call = Call(tenant_id=owner.tenant_id, user_id=owner.user_id, record_id="003WALLS",
                record_type="Contact", source="panel", status=status, title=TITLE)
    s.add(call)
    s.flush()
    lines = [("rep", "Hi, thanks for taking the time today. What are your goals?"),
             ("customer", f"Honestly the price is too expensive. {SECRET}."),
             ("rep", "I understand. What budget did you have in mind for this year?"),
             ("customer", "We could talk next Tuesday with our finance lead.")]
    t = 0
    for seq, (speaker, text) in enumerate(lines, 1):
        s.add(Turn(tenant_id=owner.tenant_id, call_id=call.id, seq=seq, speaker=speaker,
                   text=text, start_ms=t, end_ms=t + 3000, words=[]))
        t += 3600
    call.duration_ms = t
    return call.id


@pytest.fixture
def world(app: Any, client: Any) -> World:
    suffix = uuid.uuid4().hex[:8].upper()
    tenant, other = f"sf:00DWALLS{suffix}", f"sf:00DOTHER{suffix}"  # one org pair per test
    with db.session_scope() as s:
        for org in (tenant, other):
            ensure_tenant(s, org, "salesforce", org)
        east, west = Team(tenant_id=tenant, name="East"), Team(tenant_id=tenant, name="West")
        s.add_all([east, west])
        s.flush()
        people = {
            "owner": _user(s, tenant, "005OWNER", "rep", east),
            "teammate": _user(s, tenant, "005MATE", "rep", east),
            "peer": _user(s, tenant, "005PEER", "rep", west),
            "manager": _user(s, tenant, "005MGRE", "manager", east),
            "other_manager": _user(s, tenant, "005MGRW", "manager", west),
            "admin": _user(s, tenant, "005ADMIN", "admin", None),
            "outsider": _user(s, other, "005OUT", "rep", None),
            "outsider_admin": _user(s, other, "005OUTADM", "admin", None),
        }
        owner = people["owner"]
        call_id = _call(s, owner, "ended")
        live_id = _call(s, owner, "live")
        s.add(Nudge(tenant_id=tenant, call_id=call_id, turn_seq=2, at_ms=4000,
                    category="objection", severity="warn", text=f"Price: {SECRET}",
                    rule="walls"))
        rec = Recording(tenant_id=tenant, call_id=call_id, user_id=owner.user_id,
                        filename="walls.wav", path="/nonexistent/walls.wav", status="done",
                        stage="done", progress=100)
        s.add(rec)
        item = OutboxItem(tenant_id=tenant, idempotency_key=f"walls-{call_id}", call_id=call_id,
                          crm="salesforce", payload={"subject": TITLE}, status="failed")
        s.add(item)
        s.flush()
        nudge_id = s.scalar(select(Nudge.id).where(Nudge.call_id == call_id))
        rec_id, outbox_id = rec.id, item.id
    with app.app_context():
        assert stages.analyse(call_id, app.config["SETTINGS"]) == 1
    signer = app.extensions["salescoach.signer"]
    started = client.post("/api/v1/practice/sessions", json={"scenario_id": _scenario()},
                          headers={"Authorization": f"Bearer {signer.issue(owner)}"})
    assert started.status_code in (200, 201), started.get_data(as_text=True)
    assert nudge_id is not None
    return World(people, call_id, live_id, nudge_id, rec_id, outbox_id, started.json["id"])


def _scenario() -> str:
    from plugin.practice.scenarios import library

    return sorted(library())[0]


# -- every route, classified ------------------------------------------------------------------
# Object routes: endpoint -> (method, path with {call} {live} {nudge} {rec} {practice}
# {outbox}, body, "read" | "act"). "read": owner, the team's manager and admins; "act": owner
# and admins.
OBJECT_ROUTES: dict[str, tuple[str, str, Any, str]] = {
    "reports_pages.api_call": ("GET", "/api/v1/calls/{call}", None, "read"),
    "reports_pages.api_report": ("GET", "/api/v1/calls/{call}/report", None, "read"),
    "reports_pages.api_report_pdf": ("GET", "/api/v1/calls/{call}/report.pdf", None, "read"),
    "reports_pages.report_page": ("GET", "/panel/calls/{call}", None, "read"),
    "reports_pages.api_share": ("POST", "/api/v1/calls/{call}/share", None, "read"),
    "reports_pages.api_share_revoke": ("POST", "/api/v1/calls/{call}/share/revoke", None, "act"),
    "reports_pages.api_reanalyse": ("POST", "/api/v1/calls/{call}/analyze", None, "act"),
    "recordings_api.fix_speakers": ("POST", "/api/v1/calls/{call}/speakers",
                                    {"turns": {"1": "rep"}}, "act"),
    "recordings_api.status": ("GET", "/api/v1/recordings/{rec}", None, "read"),
    "live.get_call": ("GET", "/api/v1/live/calls/{live}", None, "read"),
    "live.rate_nudge": ("POST", "/api/v1/nudges/{nudge}/rating", {"rating": 1}, "act"),
    "practice_api.get_session": ("GET", "/api/v1/practice/sessions/{practice}", None, "read"),
    "practice_api.post_reply": ("POST", "/api/v1/practice/sessions/{practice}/replies",
                                {"text": "What budget did you plan for this?"}, "act"),
    "practice_api.post_reply_stream": ("POST",
                                       "/api/v1/practice/sessions/{practice}/replies/stream",
                                       {"text": "What budget did you plan for this?"}, "act"),
    "practice_api.post_audio_reply": ("POST",
                                      "/api/v1/practice/sessions/{practice}/replies/audio",
                                      b"RIFF0000WAVE", "act"),
    "practice_api.finish_session": ("POST", "/api/v1/practice/sessions/{practice}/finish",
                                    None, "act"),
}
# Lists scoped to the viewer: endpoint -> path. The owner's call / practice session must not
# appear for anyone who may not see it, and must for the team's manager.
LIST_ROUTES: dict[str, str] = {
    "reports_pages.api_calls": "/api/v1/calls",
    "reports_pages.calls_page": "/panel/calls",
    "live.list_calls": "/api/v1/live/calls",
    "practice_api.list_sessions": "/api/v1/practice/sessions",
    "practice_api.progress": "/api/v1/practice/progress",
    "practice_api.drill_lines": "/api/v1/practice/drill-lines?record_id=003WALLS",
}
# Admin-only, tenant-wide: the identity's own tenant; a rep or manager gets 401/403, another
# tenant's admin sees only their own tenant (checked for the routes that take an id).
ADMIN_ROUTES: dict[str, tuple[str, str]] = {
    "admin.page": ("GET", "/admin"),
    "reports_pages.outbox_page": ("GET", "/admin/outbox"),
    "reports_pages.api_outbox": ("GET", "/api/v1/admin/outbox"),
    "reports_pages.api_outbox_retry": ("POST", "/api/v1/admin/outbox/{outbox}/retry"),
    "admin.upload_playbook": ("POST", "/admin/playbooks"),
    "admin.download_playbook": ("GET", "/admin/playbooks/1.yaml"),
    "admin.choose_playbook": ("POST", "/admin/playbooks/active"),
    "admin.change_settings": ("PUT", "/api/v1/admin/settings"),
    "admin.api_settings": ("GET", "/api/v1/admin/settings"),
    "admin.api_connections": ("GET", "/api/v1/admin/connections"),
    "admin.api_playbooks": ("GET", "/api/v1/admin/playbooks"),
    "admin.rewrite_crm_notes": ("POST", "/api/v1/admin/crm-notes/rewrite"),
    "crm_oauth.disconnect": ("POST", "/admin/disconnect/salesforce"),
    "practice_pages.practice_admin_page": ("GET", "/admin/practice"),
    "practice_api.admin_assign": ("POST", "/api/v1/practice/admin/assignments"),
    "practice_api.admin_unassign": ("DELETE", "/api/v1/practice/admin/assignments/1"),
    "practice_api.admin_scenarios": ("GET", "/api/v1/practice/admin/scenarios"),
    "practice_api.admin_save": ("POST", "/api/v1/practice/admin/scenarios"),
    "practice_api.admin_delete": ("DELETE", "/api/v1/practice/admin/scenarios/x"),
    "practice_api.admin_preview": ("POST", "/api/v1/practice/admin/scenarios/preview"),
    "practice_api.admin_team": ("GET", "/api/v1/practice/admin/team"),
    "privacy_api.export_route": ("POST", "/api/v1/privacy/export"),
    "privacy_api.delete_route": ("POST", "/api/v1/privacy/delete"),
    "privacy_api.list_receipts": ("GET", "/api/v1/privacy/receipts"),
    "privacy_api.get_receipt": ("GET", "/api/v1/privacy/receipts/x"),
    "privacy_api.audit_log": ("GET", "/api/v1/privacy/audit"),
}
# Routes that hold no one's call or session data: why each is outside the person wall.
NO_OBJECT_ROUTES: dict[str, str] = {
    "core.index": "landing page", "core.healthz": "probe", "core.readyz": "probe",
    "openapi.openapi_json": "the API description, no data",
    "core.me": "the caller's own identity", "core.demo_login": "demo sign-in (off in production)",
    "static": "static files", "panel.index": "the panel shell", "live.live_page": "page shell",
    "practice_pages.practice_page": "page shell", "demo_crm.landing": "demo page",
    "live.twilio_setup": "mints the caller's own one-call stream token",
    "popout.create_popout": "the caller's own identity", "popout.refresh_session": "own session",
    "popout.exchange_code": "a one-time entry code for its own session",
    "popout.open_popout": "a one-time signed link", "canvas.canvas": "signed CRM entry",
    "canvas.canvas_get": "signed CRM entry", "canvas.widget_context": "signed CRM entry; its "
    "call history is scoped with visible_filter (test_widget_history_is_walled)",
    "hubspot_card.card_context": "signed CRM entry, scoped like the widget",
    "crm_oauth.connect": "starts OAuth", "crm_oauth.callback": "OAuth callback",
    "customer_api.customer": "CRM record data (the org's CRM, not our calls)",
    "customer_api.records": "CRM record search",
    "practice_api.list_scenarios": "shared library", "practice_api.get_scenario": "library",
    "practice_api.start_session": "creates the caller's own", "practice_api.post_drill": "own",
    "practice_api.post_drill_audio": "the caller's own drill (a WAV answer)",
    "practice_api.list_drills": "the caller's own drills", "practice_api.tts": "no data",
    "practice_api.my_assignments": "the caller's own", "recordings_api.upload": "creates own",
    "metrics": "aggregate counters, no object data; bearer token in production "
               "(tests/core/test_observability.py)",
    "drain.drain_view": "pod-local drain, token derived from the secret key "
                        "(tests/live/test_drain.py)",
}
SOCKET_ROUTES = {"live_calls_socket": "test_socket_messages_are_walled",
                 "live_twilio_socket": "one-call stream tokens (tests/live/test_twilio.py)"}

REFUSED_READ = ("outsider", "outsider_admin", "peer", "teammate", "other_manager")
ALLOWED_READ = ("owner", "manager", "admin")
REFUSED_ACT = (*REFUSED_READ, "manager")


def test_every_route_is_classified(app: Any) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    known = set(OBJECT_ROUTES) | set(LIST_ROUTES) | set(ADMIN_ROUTES) | set(NO_OBJECT_ROUTES) \
        | set(SOCKET_ROUTES)
    assert not endpoints - known, f"classify these routes in tests/core/test_walls.py: " \
                                  f"{sorted(endpoints - known)}"
    assert not known - endpoints, f"routes gone from the app: {sorted(known - endpoints)}"


def _path(template: str, w: World) -> str:
    return template.format(call=w.call_id, live=w.live_id, nudge=w.nudge_id,
                           rec=w.recording_id, practice=w.practice_id, outbox=w.outbox_id)


def _request(client: Any, app: Any, who: Identity, method: str, path: str,
             body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {app.extensions['salescoach.signer'].issue(who)}"}
    if isinstance(body, bytes):
        return client.open(path, method=method, data=body, headers={
            **headers, "Content-Type": "audio/wav"})
    return client.open(path, method=method, json=body, headers=headers)


def _leaks(resp: Any, w: World) -> list[str]:
    text = resp.get_data(as_text=True) if resp.mimetype != "application/pdf" else ""
    return [marker for marker in (SECRET, TITLE, w.call_id, w.live_id, w.practice_id)
            if marker in text]


@pytest.mark.parametrize("endpoint", sorted(OBJECT_ROUTES))
def test_object_routes_answer_404_to_everyone_the_wall_keeps_out(
        endpoint: str, world: World, app: Any, client: Any) -> None:
    method, template, body, kind = OBJECT_ROUTES[endpoint]
    path = _path(template, world)
    for name in (REFUSED_ACT if kind == "act" else REFUSED_READ):
        resp = _request(client, app, world.people[name], method, path, body)
        assert resp.status_code == 404, (name, resp.status_code, resp.get_data(as_text=True))
        assert not _leaks(resp, world), (name, _leaks(resp, world))
    # and the route does answer those the wall lets in (so the 404s above are the wall)
    for name in (ALLOWED_READ if kind == "read" else ("owner",)):
        resp = _request(client, app, world.people[name], method, path, body)
        assert resp.status_code not in (401, 403, 404), (name, resp.status_code,
                                                         resp.get_data(as_text=True))


def test_nothing_was_changed_by_the_refused_writes(world: World, app: Any, client: Any) -> None:
    for method, template, body, kind in OBJECT_ROUTES.values():
        if kind == "act":
            for name in REFUSED_ACT:
                _request(client, app, world.people[name], method, _path(template, world), body)
    with db.session_scope() as s:
        nudge = s.get(Nudge, world.nudge_id)
        call = s.get(Call, world.call_id)
        assert nudge is not None and nudge.rating is None
        assert call is not None and call.shares_revoked_at is None
        speakers = [t.speaker for t in s.scalars(select(Turn).where(
            Turn.call_id == world.call_id).order_by(Turn.seq))]
        assert speakers == ["rep", "customer", "rep", "customer"]


@pytest.mark.parametrize("endpoint", sorted(LIST_ROUTES))
def test_lists_show_only_what_the_viewer_may_see(endpoint: str, world: World, app: Any,
                                                 client: Any) -> None:
    path = LIST_ROUTES[endpoint]
    for name in REFUSED_READ:
        resp = _request(client, app, world.people[name], "GET", path)
        assert resp.status_code == 200, (name, resp.get_data(as_text=True))
        assert not _leaks(resp, world), (name, _leaks(resp, world))
    if endpoint.startswith("practice_api.") and endpoint != "practice_api.drill_lines":
        return  # the practice history is the caller's own (a manager uses the team page)
    for name in ALLOWED_READ:
        resp = _request(client, app, world.people[name], "GET", path)
        text = resp.get_data(as_text=True)
        assert resp.status_code == 200 and (SECRET in text or world.call_id in text
                                            or world.live_id in text), (name, endpoint)


@pytest.mark.parametrize("endpoint", sorted(ADMIN_ROUTES))
def test_admin_routes_refuse_reps_and_managers_and_stay_in_their_tenant(
        endpoint: str, world: World, app: Any, client: Any) -> None:
    method, template = ADMIN_ROUTES[endpoint]
    path = _path(template, world)
    for name in ("owner", "peer", "manager"):
        resp = _request(client, app, world.people[name], method, path, {})
        assert resp.status_code in (401, 403), (name, resp.status_code)
        assert not _leaks(resp, world)
    resp = _request(client, app, world.people["outsider_admin"], method, path, {})
    assert resp.status_code < 500 and not _leaks(resp, world), (resp.status_code,
                                                                 _leaks(resp, world))


def test_outbox_retry_of_another_tenant_is_404(world: World, app: Any, client: Any) -> None:
    resp = _request(client, app, world.people["outsider_admin"], "POST",
                    f"/api/v1/admin/outbox/{world.outbox_id}/retry")
    assert resp.status_code == 404


def test_a_role_change_applies_at_once_whatever_the_token_says(world: World, app: Any,
                                                               client: Any) -> None:
    manager = world.people["manager"]
    path = f"/api/v1/calls/{world.call_id}"
    assert _request(client, app, manager, "GET", path).status_code == 200
    with db.session_scope() as s:
        row = s.get(User, manager.user_id)
        assert row is not None
        row.role = "rep"
    assert _request(client, app, manager, "GET", path).status_code == 404
    # a token claiming admin for a rep is not enough either
    forged_role = Identity(**{**world.people["peer"].to_dict(), "role": "admin"})
    assert _request(client, app, forged_role, "GET", path).status_code == 404


def test_widget_history_is_walled(world: World, app: Any) -> None:
    from plugin.web.crm_common import local_history

    with app.test_request_context(), db.session_scope() as s:
        for name, sees in (("owner", True), ("manager", True), ("peer", False),
                           ("other_manager", False)):
            who = Identity(**{**world.people[name].to_dict(), "record_id": "003WALLS",
                              "record_type": "Contact"})
            last = local_history(s, who)["last_call"]
            assert (last is not None and last["call_id"] == world.call_id) is sees, name


# -- the live socket --------------------------------------------------------------------------
# Every message type of /ws/calls and what the wall does with it.
SOCKET_MESSAGES = {
    "auth": "authenticates the socket as its own user; grants nothing on others' calls",
    "start": "start with another's call_id: unknown_call, nothing fed",
    "resume": "start with call_id + last_seq: unknown_call, nothing replayed",
    "watch": "another's call: unknown_call; the team's manager and admins may watch",
    "stop": "ends only the socket's own call; never another's",
    "ping": "no call involved",
    "ack": "no call involved",
    "audio": "binary frames after a refused start: not_started, nothing fed",
}


class Socket:
    """A /ws/calls client collecting events in a thread."""

    def __init__(self, url: str, token: str) -> None:
        self.ws = connect(url, open_timeout=10, close_timeout=2)
        self.ws.send(json.dumps({"type": "auth", "token": token}))  # first-message auth
        self.events: list[dict[str, Any]] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for msg in self.ws:
                with self._cv:
                    self.events.append(json.loads(msg))
                    self._cv.notify_all()
        except Exception:  # noqa: BLE001 - closed
            pass

    def send(self, msg: dict[str, Any] | bytes) -> None:
        self.ws.send(msg if isinstance(msg, bytes) else json.dumps(msg))

    def next(self, after: int, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.events) <= after:
                left = deadline - time.monotonic()
                assert left > 0, f"no event after {after}: {self.events}"
                self._cv.wait(left)
            return self.events[after]

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def ws_url(app: Any) -> Iterator[Any]:
    with serve_wsgi(app) as base:
        def open_socket(who: Identity) -> Socket:
            token = app.extensions["salescoach.signer"].issue(who)
            return Socket(base.replace("http://", "ws://") + "/ws/calls", token)

        yield open_socket


def test_every_socket_message_type_is_classified() -> None:
    assert set(PANEL_MESSAGE_TYPES) | {"resume", "audio"} == set(SOCKET_MESSAGES)


def _stored_turns(call_id: str) -> list[str]:
    with db.session_scope() as s:
        return [t.text for t in s.scalars(select(Turn).where(Turn.call_id == call_id))]


def test_socket_messages_are_walled(world: World, ws_url: Any) -> None:
    before = _stored_turns(world.live_id)
    for name in (*REFUSED_READ, "manager", "admin"):
        who = world.people[name]
        sock = ws_url(who)
        try:
            # start / resume with the victim's call id: refused, like an unknown call
            sock.send({"type": "start", "call_id": world.live_id})
            event = sock.next(0)
            assert event["type"] == "error" and event["code"] == "unknown_call", (name, event)
            sock.send({"type": "start", "call_id": world.live_id, "last_seq": 0,
                       "last_nudge_id": 0})
            event = sock.next(1)
            assert event["code"] in ("unknown_call", "already_started"), (name, event)
            # audio after the refused start feeds nothing; stop has no call to end
            sock.send(b"\x00" + b"\x01\x00" * 160)
            sock.send({"type": "stop"})
            sock.send({"type": "ping"})
            deadline = time.monotonic() + 10
            while not any(e["type"] == "pong" for e in sock.events):
                assert time.monotonic() < deadline, sock.events
                time.sleep(0.05)
            # watch: only the team's manager and admins
            n = len(sock.events)
            sock.send({"type": "watch", "call_id": world.live_id})
            event = sock.next(n)
            if name in ("manager", "admin"):
                assert event["type"] == "ready" and event["watching"] is True, (name, event)
            else:
                assert event["type"] == "error" and event["code"] == "unknown_call", (name,
                                                                                      event)
                time.sleep(0.3)
                text = json.dumps(sock.events)
                assert SECRET not in text and TITLE not in text, name
        finally:
            sock.close()
    # the victim's call is untouched: still live, no turn added or removed
    with db.session_scope() as s:
        call = s.get(Call, world.live_id)
        assert call is not None and call.status == "live"
    assert _stored_turns(world.live_id) == before


def test_the_access_log_never_carries_query_strings() -> None:
    """Session tokens still travel in ?t= between panel pages: gunicorn logs paths only."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from plugin.cli import ACCESS_LOG_FORMAT

    cfg = Config()
    cfg.set("access_log_format", ACCESS_LOG_FORMAT)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/panel/live?t=SECRET-TOKEN",
               "PATH_INFO": "/panel/live", "QUERY_STRING": "t=SECRET-TOKEN",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "HTTP_REFERER": "https://crm.example/x?t=SECRET-TOKEN",
               "HTTP_USER_AGENT": "test"}

    class Resp:
        status, response_length, sent = "200 OK", 10, 10
        headers: list[tuple[str, str]] = []

    class Req:
        headers: list[tuple[str, str]] = []

    import datetime

    atoms = Logger(cfg).atoms(Resp(), Req(), environ, datetime.timedelta(seconds=0.01))
    line = ACCESS_LOG_FORMAT % atoms
    assert "/panel/live" in line and "SECRET-TOKEN" not in line
