"""CRM interface: read customer context, write the post-call activity idempotently."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from plugin.coach.types import CustomerContext
from plugin.providers.errors import ProviderInputError


@dataclass(frozen=True, slots=True)
class CallActivity:
    """The post-call activity, CRM-neutral; each adapter maps it to its own object."""

    record_id: str  # Contact/Lead id (Salesforce) or contact id (HubSpot)
    record_type: str  # Contact | Lead | Account | Opportunity | contact
    subject: str
    body_text: str  # compact text version (Salesforce Description, ≤ 32,000 chars)
    body_html: str  # HubSpot hs_call_body
    started_at: datetime
    duration_s: int
    direction: str = "outbound"  # inbound | outbound
    disposition: str = "Connected"
    report_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class CrmAdapter(ABC):
    """One connected org/portal. Raises ``plugin.providers.errors.ProviderError`` subclasses."""

    kind: str  # salesforce | hubspot

    @abstractmethod
    def customer_context(self, record_id: str, record_type: str = "") -> CustomerContext:
        """Person, company, open deals and recent activities with notes, normalised."""

    @abstractmethod
    def write_call_activity(self, activity: CallActivity, idempotency_key: str) -> str:
        """Create the call activity once per key; a retry with the same key returns the same id."""

    def search_records(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """People, companies and deals whose name matches ``text``:
        ``[{"id", "type", "name", "company"}]``."""
        raise ProviderInputError(f"searching {self.kind} records is not supported")

    def update_call_activity(self, crm_id: str, activity: CallActivity,
                             idempotency_key: str) -> str:
        """Rewrite the notes of the activity ``crm_id`` that Sales Coach wrote earlier (same
        record, same key); returns its id. Repeating it changes nothing more."""
        raise ProviderInputError(f"updating {self.kind} activities is not supported")

    def delete_call_activity(self, crm_id: str) -> bool:
        """Delete the activity ``crm_id`` that Sales Coach wrote (a privacy erasure the admin
        asked to reach the CRM); False when it was already gone. Repeating it is harmless."""
        raise ProviderInputError(f"deleting {self.kind} activities is not supported")
