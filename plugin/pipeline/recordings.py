"""Accepting recordings: type by magic bytes, size limit, stored before anything is queued.

Accepted: WAV (PCM, μ-law, A-law, ADPCM, GSM… whatever FFmpeg decodes), MP3, M4A (MP4
audio), OGG (Vorbis/Opus), WebM, FLAC, at any rate, mono or stereo, up to
``settings.max_upload_mb``; a file whose codec cannot be decoded is refused (415, naming
it). The file is written under ``<instance>/recordings/<tenant>/`` and its ``Recording`` +
``Call`` rows committed before the transcription task is enqueued, so an upload is never
lost even if the broker is down at that moment (the sweep re-queues).
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from plugin.db import db
from plugin.models import Call, Recording
from plugin.providers.errors import ProviderInputError
from plugin.settings import Settings
from plugin.speech.audio import check_codec, sniff

FORMATS = ("wav", "mp3", "m4a", "ogg", "webm", "flac")
CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4", "ogg": "audio/ogg",
                 "webm": "audio/webm", "flac": "audio/flac"}
RECORD_ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,64}$")
MIN_BYTES = 64
CHUNK = 1 << 20


class UploadRejected(Exception):
    """The upload cannot be accepted; ``status``/``code``/``message`` become the 4xx answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class Stored:
    recording_id: str
    call_id: str


def recordings_dir(settings: Settings, tenant_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", tenant_id)
    path = settings.instance_path / "recordings" / safe
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_record_id(record_id: str) -> str:
    record_id = (record_id or "").strip()
    if record_id and not RECORD_ID.match(record_id):
        raise UploadRejected(400, "invalid_record_id",
                             "record_id must be a CRM record id (letters, digits, - _ . :, ≤ 64)")
    return record_id


def store_upload(settings: Settings, *, tenant_id: str, user_id: int | None, filename: str,
                 stream: IO[bytes], record_id: str = "", record_type: str = "",
                 title: str = "", consent: tuple[str, str] = ("", "")) -> Stored:
    """Validate and store an uploaded recording; commit its rows. Raises ``UploadRejected``.
    ``consent``: (tenant policy, consent stated), checked by the caller, kept on the call."""
    record_id = check_record_id(record_id)
    limit = settings.max_upload_mb * 1024 * 1024
    head = stream.read(16)
    kind = sniff(head)
    if len(head) == 0:
        raise UploadRejected(400, "empty_file", "the uploaded file is empty")
    if kind is None:
        ext = Path(filename).suffix.lower().lstrip(".") or "unknown"
        raise UploadRejected(415, "unsupported_format",
                             f"not a supported audio file (got .{ext} whose content is not "
                             f"{', '.join(FORMATS)}); upload one of: {', '.join(FORMATS)}")
    folder = recordings_dir(settings, tenant_id)
    rec_id = uuid.uuid4().hex
    final = folder / f"{rec_id}.{kind}"
    partial = folder / f".{rec_id}.part"
    size = len(head)
    try:
        with partial.open("wb") as out:
            out.write(head)
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UploadRejected(413, "too_large",
                                         f"the recording exceeds {settings.max_upload_mb} MB")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size < MIN_BYTES:
            raise UploadRejected(400, "empty_file", f"the file holds only {size} bytes of audio")
        try:  # a container we accept may still carry a codec FFmpeg cannot decode
            check_codec(partial)
        except ProviderInputError as exc:
            raise UploadRejected(415, "unsupported_format",
                                 exc.message.replace(partial.name, Path(filename).name or "file")
                                 ) from None
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    try:
        with db.session_scope() as s:
            call = Call(tenant_id=tenant_id, user_id=user_id, record_id=record_id,
                        record_type=record_type, source="recording", status="ended",
                        title=title or Path(filename).stem[:255] or "Uploaded call",
                        started_at=datetime.now(UTC), consent_policy=consent[0],
                        consent=consent[1])
            s.add(call)
            s.flush()
            s.add(Recording(id=rec_id, tenant_id=tenant_id, call_id=call.id, user_id=user_id,
                            filename=Path(filename).name[:255] or final.name,
                            content_type=CONTENT_TYPES[kind], size=size, path=str(final),
                            status="queued", stage="uploaded", progress=0))
            call_id = call.id
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return Stored(recording_id=rec_id, call_id=call_id)
