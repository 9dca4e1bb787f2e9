"""Recordings in: formats by magic bytes, size limits, empty files, bad record ids, tenant
walls; every accepted upload is on disk and in the database before it is queued."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from plugin.db import db
from plugin.models import Call, Recording
from plugin.pipeline.recordings import sniff


def _upload(client: Any, headers: dict[str, str], data: bytes, name: str, **form: str) -> Any:
    return client.post("/api/v1/recordings", headers=headers,
                       data={"file": (io.BytesIO(data), name), **form},
                       content_type="multipart/form-data")


@pytest.mark.parametrize(("head", "kind"), [
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"), (b"fLaC\x00\x00\x00\x22", "flac"),
    (b"OggS\x00\x02\x00\x00", "ogg"), (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "webm"),
    (b"\x00\x00\x00\x20ftypM4A ", "m4a"), (b"ID3\x04\x00\x00\x00\x00", "mp3"),
    (b"\xff\xfb\x90\x64\x00\x00", "mp3"), (b"%PDF-1.7\n", None), (b"hello world", None),
])
def test_audio_type_is_recognised_by_magic_bytes(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


def test_wav_upload_is_stored_before_it_is_queued(client: Any, tenants: Any,
                                                  call_wav: Path) -> None:
    # given a rep and a real stereo WAV
    ident = tenants.identity("demo", "rep-up")
    # when they upload it
    resp = _upload(client, tenants.headers(ident), call_wav.read_bytes(), "discovery call.wav")
    # then it is accepted with a status URL, the file is on disk and both rows exist
    assert resp.status_code == 202, resp.json
    body = resp.json
    assert body["status_url"] == f"/api/v1/recordings/{body['recording_id']}"
    with db.session_scope() as s:
        rec = s.get(Recording, body["recording_id"])
        assert rec is not None and rec.tenant_id == "demo" and rec.status == "queued"
        assert Path(rec.path).read_bytes() == call_wav.read_bytes()
        assert "/recordings/demo/" in rec.path and rec.content_type == "audio/wav"
        call = s.get(Call, body["call_id"])
        assert call is not None and call.source == "recording" and call.title == "discovery call"
    status = client.get(body["status_url"], headers=tenants.headers(ident)).json
    assert status["stage"] == "uploaded" and status["progress"] == 0


def test_text_file_named_wav_is_refused_as_unsupported(client: Any, tenants: Any) -> None:
    ident = tenants.identity("demo", "rep-up")
    resp = _upload(client, tenants.headers(ident), b"this is not audio at all" * 10, "call.wav")
    assert resp.status_code == 415
    assert resp.json["error"]["code"] == "unsupported_format"
    assert "wav" in resp.json["error"]["message"]


def test_empty_file_is_refused(client: Any, tenants: Any) -> None:
    ident = tenants.identity("demo", "rep-up")
    resp = _upload(client, tenants.headers(ident), b"", "call.wav")
    assert resp.status_code == 400 and resp.json["error"]["code"] == "empty_file"


def test_header_only_wav_is_refused_as_empty(client: Any, tenants: Any) -> None:
    ident = tenants.identity("demo", "rep-up")
    resp = _upload(client, tenants.headers(ident), b"RIFF\x24\x00\x00\x00WAVEfmt ", "c.wav")
    assert resp.status_code == 400 and resp.json["error"]["code"] == "empty_file"


def test_missing_file_field_says_how_to_send_it(client: Any, tenants: Any) -> None:
    ident = tenants.identity("demo", "rep-up")
    resp = client.post("/api/v1/recordings", headers=tenants.headers(ident), data={},
                       content_type="multipart/form-data")
    assert resp.status_code == 400 and resp.json["error"]["code"] == "missing_file"


def test_malformed_record_id_is_refused(client: Any, tenants: Any, call_wav: Path) -> None:
    ident = tenants.identity("demo", "rep-up")
    resp = _upload(client, tenants.headers(ident), call_wav.read_bytes(), "c.wav",
                   record_id="003'; DROP TABLE")
    assert resp.status_code == 400 and resp.json["error"]["code"] == "invalid_record_id"


class TestSizeLimit:
    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {"max_upload_mb": 1}

    def test_oversized_upload_is_refused_with_413(self, client: Any, tenants: Any) -> None:
        ident = tenants.identity("demo", "rep-up")
        big = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * (1024 * 1024 + 10)
        resp = _upload(client, tenants.headers(ident), big, "long.wav")
        assert resp.status_code == 413
        assert resp.json["error"]["code"] in ("too_large", "request_entity_too_large")


def test_upload_needs_a_session(client: Any, call_wav: Path) -> None:
    resp = _upload(client, {}, call_wav.read_bytes(), "c.wav")
    assert resp.status_code == 401


def test_recording_status_of_another_tenant_is_not_found(client: Any, tenants: Any,
                                                         call_wav: Path) -> None:
    mine = tenants.identity("demo", "rep-up")
    other = tenants.identity("sf:00DOTHER", "005X")
    resp = _upload(client, tenants.headers(mine), call_wav.read_bytes(), "c.wav")
    url = f"/api/v1/recordings/{resp.json['recording_id']}"
    assert client.get(url, headers=tenants.headers(other)).status_code == 404
    assert client.get(url, headers=tenants.headers(mine)).status_code == 200
