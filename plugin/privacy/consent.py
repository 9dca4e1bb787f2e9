"""Recording consent per tenant (setting ``recording_consent``), enforced server-side.

``none``: no notice. ``notify``: the panel reminds the rep to tell the customer and asks
them to tick that they did. ``two_party``: every party must agree; audio carrying the
customer's voice (live ``customer`` or ``mixed`` channels, Twilio, uploaded recordings) is
refused unless the client states ``consent: "obtained"``, so it is never transcribed or
stored. The rep's own channel alone needs no one else's consent. Each call records the
policy it ran under and the consent given (``calls.consent_policy``, ``calls.consent``).
"""

from __future__ import annotations

from collections.abc import Iterable

from plugin.db import db
from plugin.models import Tenant
from plugin.tenant_settings import tenant_settings

STATES = ("", "notified", "obtained")
CUSTOMER_AUDIO = ("customer", "mixed")


class ConsentRequired(Exception):
    """Customer audio without the consent the tenant's policy asks for."""

    code = "consent_required"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def policy_of(tenant_id: str) -> str:
    with db.session_scope() as s:
        return str(tenant_settings(s.get(Tenant, tenant_id))["recording_consent"])


def normalise(value: object) -> str:
    """The consent a client stated: ``obtained``, ``notified`` or ``""`` (anything else)."""
    return value if isinstance(value, str) and value in STATES else ""


def check(tenant_id: str, channels: Iterable[str], consent: object) -> tuple[str, str]:
    """(policy, consent) to store on the call; ``ConsentRequired`` when the tenant's policy
    refuses this audio."""
    policy = policy_of(tenant_id)
    given = normalise(consent)
    if policy == "two_party" and given != "obtained" and any(
            c in CUSTOMER_AUDIO for c in channels):
        raise ConsentRequired(
            "this org records calls only with every party's consent: confirm that the "
            "customer agreed (consent: \"obtained\") or coach your own channel only")
    return policy, given
