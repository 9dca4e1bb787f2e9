"""The privacy routes and CLI: the export zip and its manifest, deletion receipts, admin-only,
walled to the tenant, bad input as precise 4xx; the admin page section."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

from sqlalchemy import select

from plugin.db import db
from plugin.models import AuditEvent, Call, CrmConnection

from .conftest import admin_of, mentions, table_dump

HTML = {"Accept": "text/html"}


def _zip(resp: Any) -> zipfile.ZipFile:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/zip"
    return zipfile.ZipFile(io.BytesIO(resp.data))


def test_export_of_a_contact_is_one_zip_with_data_audio_and_a_manifest(
        client: Any, tenants: Any, footprint: Any) -> None:
    tenant = "sf:00DEXPORT1"
    admin = admin_of(tenant)
    fp = footprint(tenant, "005EXP", "003EXP")
    footprint(tenant, "005EXP", "003NOTME")
    resp = client.post("/api/v1/privacy/export", json={"kind": "contact", "id": "003EXP"},
                       headers=tenants.headers(admin))
    zf = _zip(resp)
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["subject"] == {"kind": "contact", "id": "003EXP"}
    assert manifest["receipt_id"] == resp.headers["X-Receipt-Id"]
    assert manifest["tables"]["calls"] == 1 and manifest["tables"]["turns"] == 2
    calls = json.loads(zf.read("data/calls.json"))
    assert [c["id"] for c in calls] == [fp.call_id] and calls[0]["record_id"] == "003EXP"
    turns = json.loads(zf.read("data/turns.json"))
    assert all(fp.marker in t["text"] for t in turns)
    # the audio is the stored recording, byte for byte, as the manifest says
    audio = next(f for f in manifest["files"] if f["path"].endswith(".wav"))
    data = zf.read(audio["path"])
    assert data == fp.recording_path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == audio["sha256"] and audio["bytes"] == len(data)
    assert any(f["path"].endswith("-v1.pdf") for f in manifest["files"])
    assert [a["crm_id"] for a in manifest["crm_activities"]] == [fp.crm_id]
    # nothing of the other contact; and the export is logged with its receipt
    assert "003NOTME" not in zf.read("data/calls.json").decode()
    receipt = client.get(f"/api/v1/privacy/receipts/{manifest['receipt_id']}",
                         headers=tenants.headers(admin)).get_json()["receipt"]
    assert receipt["action"] == "export" and receipt["counts"]["calls"] == 1
    with db.session_scope() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.tenant_id == tenant,
                                                 AuditEvent.action == "privacy.export"))


def test_tenant_export_leaves_out_encrypted_tokens(client: Any, tenants: Any,
                                                  footprint: Any) -> None:
    tenant = "sf:00DEXPORT2"
    admin = admin_of(tenant)
    footprint(tenant, "005T", "003T")
    with db.session_scope() as s:
        s.add(CrmConnection(tenant_id=tenant, kind="salesforce", access_token_enc="SECRETTOKEN",
                            refresh_token_enc="SECRETREFRESH"))
    zf = _zip(client.post("/api/v1/privacy/export", json={"kind": "tenant"},
                          headers=tenants.headers(admin)))
    names = set(zf.namelist())
    assert {"data/tenants.json", "data/users.json", "data/crm_connections.json",
            "data/practice_sessions.json"} <= names
    assert all(b"SECRET" not in zf.read(n) for n in names)


def test_delete_route_returns_the_receipt_and_walls_hold(client: Any, tenants: Any,
                                                        footprint: Any) -> None:
    a, b = "sf:00DWALLA", "sf:00DWALLB"
    admin_a, admin_b = admin_of(a), admin_of(b)
    fp = footprint(a, "005W", "003W")
    # another tenant's admin cannot reach A's rep or contact
    resp = client.post("/api/v1/privacy/delete", json={"kind": "rep", "id": "005W"},
                       headers=tenants.headers(admin_b))
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    resp = client.post("/api/v1/privacy/delete", json={"kind": "contact", "id": "003W"},
                       headers=tenants.headers(admin_b))
    assert resp.status_code == 200 and resp.get_json()["receipt"]["counts"] == {}
    zf = _zip(client.post("/api/v1/privacy/export", json={"kind": "contact", "id": "003W"},
                          headers=tenants.headers(admin_b)))
    assert zf.namelist() == ["manifest.json"]
    assert mentions(table_dump(a), fp.marker).keys() >= {"calls", "turns"}
    assert client.get(f"/api/v1/privacy/receipts/{resp.get_json()['receipt']['id']}",
                      headers=tenants.headers(admin_a)).status_code == 404
    # a rep is refused; the admin of A deletes and gets the receipt
    rep = tenants.identity(a, "005W")
    assert client.post("/api/v1/privacy/delete", json={"kind": "contact", "id": "003W"},
                       headers=tenants.headers(rep)).status_code == 403
    assert client.post("/api/v1/privacy/delete", json={"kind": "contact", "id": "003W"}
                       ).status_code == 401
    resp = client.post("/api/v1/privacy/delete", json={"kind": "contact", "id": "003W"},
                       headers=tenants.headers(admin_a))
    receipt = resp.get_json()["receipt"]
    assert resp.status_code == 200 and receipt["ids"]["calls"] == [fp.call_id]
    listed = client.get("/api/v1/privacy/receipts", headers=tenants.headers(admin_a)).get_json()
    assert receipt["id"] in [r["id"] for r in listed["receipts"]]
    assert not fp.recording_path.exists()


def test_bad_privacy_requests_are_precise_4xx(client: Any, tenants: Any) -> None:
    tenant = "sf:00DBAD"
    headers = tenants.headers(admin_of(tenant))
    with db.session_scope() as s:
        s.add(Call(tenant_id=tenant, status="live", record_id="003LIVE"))
    cases = [
        ({"kind": "everyone", "id": "x"}, 400, "invalid_request"),
        ({"kind": "contact"}, 400, "invalid_request"),
        ({"kind": "contact", "id": "x" * 65}, 400, "invalid_request"),
        ({"kind": "contact", "id": "a\x00b"}, 400, "invalid_request"),
        ({"kind": ["contact"], "id": "x"}, 400, "invalid_request"),
        ({"kind": "contact", "id": 5}, 400, "invalid_request"),
        ({"kind": "tenant"}, 400, "confirm_required"),
        ({"kind": "tenant", "confirm": "sf:00DOTHER"}, 400, "confirm_required"),
        ({"kind": "contact", "id": "003LIVE"}, 409, "calls_live"),
        ({"kind": "contact", "id": "003X", "delete_in_crm": "yes"}, 400, "invalid_request"),
    ]
    for body, status, code in cases:
        resp = client.post("/api/v1/privacy/delete", json=body, headers=headers)
        assert resp.status_code == status, (body, resp.get_data(as_text=True))
        assert resp.get_json()["error"]["code"] == code, body
    resp = client.post("/api/v1/privacy/delete", data="[1, 2]", headers={
        **headers, "Content-Type": "application/json"})
    assert resp.status_code == 400
    for query in ("limit=0", "limit=abc", "before=-1", "limit=١٢"):
        assert client.get(f"/api/v1/privacy/audit?{query}", headers=headers).status_code == 400


def test_admin_page_privacy_section_changes_settings_and_deletes(
        client: Any, tenants: Any, footprint: Any) -> None:
    tenant = "sf:00DPAGE"
    admin = admin_of(tenant)
    token = tenants.token(admin)
    fp = footprint(tenant, "005PG", "003PG")
    html = client.get(f"/admin?t={token}", headers=HTML).get_data(as_text=True)
    assert 'id="privacy-settings"' in html and 'name="retention_audio_days"' in html
    assert 'value="90"' in html and 'id="audit-log"' in html
    # change retention and consent with the form; the write-back form is left alone
    resp = client.post(f"/admin/settings?t={token}", headers=HTML, data={
        "group": "privacy", "retention_audio_days": "30", "retention_transcript_days": "200",
        "retention_report_days": "400", "recording_consent": "two_party"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("#privacy")
    got = client.get("/api/v1/admin/settings", headers=tenants.headers(admin)).get_json()
    assert got["settings"]["retention_audio_days"] == 30
    assert got["settings"]["recording_consent"] == "two_party"
    assert got["settings"]["crm_notes_include_coaching"] is False
    bad = client.post(f"/admin/settings?t={token}", data={
        "group": "privacy", "retention_audio_days": "0", "retention_transcript_days": "1",
        "retention_report_days": "1", "recording_consent": "none"})
    assert bad.status_code == 400
    assert bad.get_json()["error"]["details"]["setting"] == "retention_audio_days"
    shown = client.post(f"/admin/settings?t={token}", headers=HTML, data={
        "group": "privacy", "retention_audio_days": "9999999"})
    assert shown.status_code == 400 and "between 1 and 3650" in shown.get_data(as_text=True)
    # export the contact from the page's form: the browser downloads the zip
    zf = _zip(client.post(f"/api/v1/privacy/export?t={token}", headers=HTML,
                          data={"kind": "contact", "id": "003PG"}))
    assert json.loads(zf.read("manifest.json"))["tables"]["calls"] == 1
    # delete the contact from the page: redirected to the receipt shown on the page
    resp = client.post(f"/api/v1/privacy/delete?t={token}", headers=HTML,
                       data={"kind": "contact", "id": "003PG"})
    assert resp.status_code == 303 and "receipt=" in resp.headers["Location"]
    page = client.get(resp.headers["Location"].split("#")[0], headers=HTML)
    text = page.get_data(as_text=True)
    assert 'id="privacy-done"' in text and fp.crm_id in text and "1 calls" in text
    assert "privacy.delete" in text and "settings.change" in text
    # a refused form post shows the reason on the page
    resp = client.post(f"/api/v1/privacy/delete?t={token}", headers=HTML,
                       data={"kind": "tenant", "id": ""})
    assert resp.status_code == 400 and 'id="privacy-error"' in resp.get_data(as_text=True)


def test_cli_exports_and_deletes(app: Any, footprint: Any, tmp_path: Any,
                                 monkeypatch: Any) -> None:
    from click.testing import CliRunner

    from plugin.cli import main

    settings = app.config["SETTINGS"]
    monkeypatch.setenv("SALESCOACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SALESCOACH_INSTANCE_PATH", str(settings.instance_path))
    tenant = "sf:00DCLI"
    fp = footprint(tenant, "005CLI", "003CLI")
    runner = CliRunner()
    out = tmp_path / "export.zip"
    res = runner.invoke(main, ["privacy", "export", "--tenant", tenant, "--rep", "005CLI",
                               "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["tables"]["users"] == 1
    assert "data/practice_replies.json" in zipfile.ZipFile(out).namelist()
    assert out.stat().st_mode & 0o777 == 0o600
    res = runner.invoke(main, ["privacy", "delete", "--tenant", tenant, "--rep", "005CLI",
                               "--contact", "x", "--yes"])
    assert res.exit_code == 2 and "exactly one" in res.output
    res = runner.invoke(main, ["privacy", "delete", "--tenant", "sf:00DNONE", "--all", "--yes"])
    assert res.exit_code == 1 and "no tenant" in res.output
    res = runner.invoke(main, ["privacy", "delete", "--tenant", tenant, "--rep", "005CLI",
                               "--yes"])
    assert res.exit_code == 0, res.output
    receipt = json.loads(res.output)
    assert receipt["counts"]["users"] == 1 and receipt["actor"].startswith("cli")
    assert not fp.voiceprint.exists()
    res = runner.invoke(main, ["privacy", "receipts", "--tenant", tenant])
    assert [json.loads(line)["action"] for line in res.output.splitlines()] == ["delete",
                                                                                "export"]


def test_an_erased_reps_session_is_refused_not_a_failed_write(client: Any, tenants: Any,
                                                             footprint: Any) -> None:
    tenant = "sf:00DERASEDSESSION"
    admin = admin_of(tenant)
    footprint(tenant, "005GONE", "003GONE")
    rep = tenants.headers(tenants.identity(tenant, "005GONE"))
    assert client.get("/api/v1/practice/sessions", headers=rep).status_code == 200
    resp = client.post("/api/v1/privacy/delete", json={"kind": "rep", "id": "005GONE"},
                       headers=tenants.headers(admin))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    # the rep's token is still validly signed, but its user is gone: 401, nothing written
    for method, url, body in (("get", "/api/v1/practice/sessions", None),
                              ("post", "/api/v1/practice/sessions",
                               {"scenario_id": "cfo-discovery"}),
                              ("post", "/api/v1/practice/drills",
                               {"customer_line": "Too expensive.", "text": "I hear you."})):
        resp = getattr(client, method)(url, json=body, headers=rep)
        assert resp.status_code == 401, (url, resp.status_code)
        assert "no longer exists" in resp.get_json()["error"]["message"]
