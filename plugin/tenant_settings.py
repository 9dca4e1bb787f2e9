"""Per-tenant settings (``tenants.settings`` JSON): one registry of names, types, defaults
and limits, read by the admin page, the API, the pipeline and the retention job.

A stored value that is missing or no longer valid reads as the default, so a setting added
later needs no migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugin.models import Tenant

CONSENT_POLICIES = ("none", "notify", "two_party")


class SettingError(ValueError):
    """A value a setting cannot take; ``setting`` names it."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True, slots=True)
class Setting:
    kind: type  # bool | int | str
    default: Any
    description: str
    group: str  # the admin page form it is shown in: writeback | privacy
    choices: tuple[str, ...] = ()
    minimum: int = 0
    maximum: int = 0

    def check(self, name: str, value: Any) -> Any:
        """``value`` if valid for this setting (JSON types), else ``SettingError``."""
        if self.kind is bool:
            if not isinstance(value, bool):
                raise SettingError(name, f"{name} must be true or false")
            return value
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise SettingError(name, f"{name} must be a whole number of days")
            if not self.minimum <= value <= self.maximum:
                raise SettingError(name, f"{name} must be between {self.minimum} and "
                                   f"{self.maximum}")
            return value
        if not isinstance(value, str) or value not in self.choices:
            raise SettingError(name, f"{name} must be one of {', '.join(self.choices)}")
        return value

    def parse_form(self, name: str, raw: str | None) -> Any:
        """The value of an HTML form field (a checkbox sends "on", unticked nothing)."""
        if self.kind is bool:
            return (raw or "") in ("on", "true", "1")
        if self.kind is int:
            text = (raw or "").strip()
            if not (text.isascii() and text.isdigit()) or len(text) > 9:
                raise SettingError(name, f"{name} must be a whole number of days")
            return self.check(name, int(text))
        return self.check(name, (raw or "").strip())


TEN_YEARS = 3650

TENANT_SETTINGS: dict[str, Setting] = {
    "crm_notes_include_coaching": Setting(
        bool, False, "Add the coaching scores, summary and tips to the call notes written to "
        "the CRM (by default they stay in Sales Coach, for the rep and their manager)",
        "writeback"),
    "retention_audio_days": Setting(
        int, 90, "Days call recordings (audio files) are kept", "privacy",
        minimum=1, maximum=TEN_YEARS),
    "retention_transcript_days": Setting(
        int, 365, "Days transcripts (call turns, practice replies and drills) are kept",
        "privacy", minimum=1, maximum=TEN_YEARS),
    "retention_report_days": Setting(
        int, 365, "Days reports (and their PDFs) are kept; the CRM write-back payloads of "
        "older calls are emptied too", "privacy", minimum=1, maximum=TEN_YEARS),
    "recording_consent": Setting(
        str, "notify", "Recording consent: none (no notice), notify (the panel reminds the rep "
        "to tell the customer) or two_party (the rep must confirm everyone agreed before "
        "customer audio is accepted)", "privacy", choices=CONSENT_POLICIES),
}


def tenant_settings(tenant: Tenant | None) -> dict[str, Any]:
    """Every setting of ``tenant`` (defaults for those unset or invalid)."""
    stored = dict(tenant.settings or {}) if tenant is not None else {}
    out: dict[str, Any] = {}
    for name, setting in TENANT_SETTINGS.items():
        try:
            out[name] = setting.check(name, stored[name]) if name in stored else setting.default
        except SettingError:
            out[name] = setting.default
    return out


def validate(changes: Any) -> dict[str, Any]:
    """A JSON object of changes checked against the registry (``SettingError`` otherwise)."""
    if not isinstance(changes, dict):
        raise SettingError("", "send a JSON object of settings")
    for name in changes:
        if name not in TENANT_SETTINGS:
            raise SettingError(str(name), f"unknown setting {name!r}")
    return {name: TENANT_SETTINGS[name].check(name, value) for name, value in changes.items()}
