"""The engines a live call uses, built once per process: speech-to-text, playbook, coach.

Thin glue over the other areas' public APIs (``plugin.speech``, ``plugin.coach``,
``plugin.crm``), cached so a new call costs no model load.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from plugin.providers.stt import SpeechToText
from plugin.settings import Settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_stt: dict[str, SpeechToText] = {}
_context_cache: dict[tuple[str, str], tuple[float, Any]] = {}
CONTEXT_TTL_S = 600.0


def stt_for(settings: Settings) -> SpeechToText:
    """The process-wide speech-to-text provider for these settings."""
    from plugin.speech import get_stt

    key = f"{settings.stt_provider}|{settings.assemblyai_streaming_host}|{settings.whisper_model}"
    with _lock:
        _voiceprint_root[:] = [settings.instance_path]
        stt = _stt.get(key)
        if stt is None:
            stt = get_stt(settings)
            _stt[key] = stt
        return stt


def playbook_for(tenant_id: str) -> Any:
    """The tenant's playbook (its stored YAML), or the shipped default."""
    from plugin.coach import default_playbook, load_playbook
    from plugin.db import db
    from plugin.models import Playbook, Tenant

    with db.session_scope() as s:
        tenant = s.get(Tenant, tenant_id)
        if tenant is not None and tenant.playbook_id is not None:
            row = s.get(Playbook, tenant.playbook_id)
            if row is not None and row.tenant_id == tenant_id:
                try:
                    return load_playbook(row.yaml_text)
                except ValueError as exc:
                    log.warning("tenant %s playbook is invalid (%s); using the default",
                                tenant_id, exc)
    return default_playbook()


def customer_context(settings: Settings, tenant_id: str, record_id: str,
                     record_type: str) -> Any:
    """CRM context for the record on the call (cached 10 min); None when unavailable.

    Optional by design: a CRM that is down or not connected must never stop a call.
    """
    if not record_id:
        return None
    key = (tenant_id, record_id)
    now = time.monotonic()
    hit = _context_cache.get(key)
    if hit is not None and now - hit[0] < CONTEXT_TTL_S:
        return hit[1]
    context = None
    try:
        from plugin.crm import adapter_for
        from plugin.db import db

        with db.session_scope() as s:
            adapter = adapter_for(s, tenant_id, settings, record_id=record_id)
        if adapter is not None:
            context = adapter.customer_context(record_id, record_type)
    except Exception as exc:  # noqa: BLE001 - context is a bonus, never a failure
        log.info("no CRM context for %s/%s: %s", tenant_id, record_id, exc)
    _context_cache[key] = (now, context)
    return context


def new_coach(playbook: Any, context: Any) -> Any:
    from plugin.coach import CoachSession

    return CoachSession(playbook, context=context)


def warm_up(settings: Settings) -> None:
    """Load the speech model and the coach's embedding model now rather than on the first
    call (each can take seconds to a minute on a busy machine)."""
    try:
        stt_for(settings).open_stream(16000).finish()
        new_coach(playbook_for_default(), None)
        log.info("live engines warmed up")
    except Exception:  # noqa: BLE001 - the first call will try again and report
        log.exception("warming up the live engines failed")


def playbook_for_default() -> Any:
    from plugin.coach import default_playbook

    return default_playbook()


def warm_up_in_background(settings: Settings) -> threading.Thread:
    thread = threading.Thread(target=warm_up, args=(settings,), name="live-warm-up", daemon=True)
    thread.start()
    return thread


_voiceprint_root: list[Any] = []  # the instance folder of the settings seen by stt_for


def voiceprints() -> Any:
    """The process's voice print store (``<instance>/voiceprints``), or None before any call
    was set up (``stt_for`` records the instance folder)."""
    from plugin.speech.voiceprint import VoicePrintStore

    return VoicePrintStore(_voiceprint_root[-1] / "voiceprints") if _voiceprint_root else None


def speaker_embedder() -> Any:
    """The voice embedder for one-channel calls (bundled GE2E model), or None if missing."""
    try:
        from plugin.speech.voiceprint import get_embedder

        return get_embedder("resemblyzer")
    except Exception:  # noqa: BLE001 - speakers then alternate, as before
        log.warning("no speaker embedder; one-channel calls alternate speakers", exc_info=True)
        return None


def call_user(call_id: str) -> tuple[str, int | None]:
    """(tenant, user id) of a stored call."""
    from plugin.db import db
    from plugin.models import Call

    with db.session_scope() as s:
        call = s.get(Call, call_id)
        return (call.tenant_id, call.user_id) if call is not None else ("", None)
