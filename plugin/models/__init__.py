"""All tables. Each area keeps its models in its own module; import them from here."""

from plugin.models._base import Base, TenantScoped, as_dict, new_id, utcnow
from plugin.models.calls import Call, Nudge, Turn
from plugin.models.pipeline import OutboxAttempt, OutboxItem, Recording, Report, TaskLock
from plugin.models.practice import (
    PracticeAssignment,
    PracticeDrill,
    PracticeReply,
    PracticeScenario,
    PracticeSession,
)
from plugin.models.privacy import AuditEvent, PrivacyReceipt
from plugin.models.tenancy import CrmConnection, Playbook, Team, Tenant, User

__all__ = [
    "Base", "TenantScoped", "as_dict", "new_id", "utcnow",
    "Tenant", "Team", "User", "Playbook", "CrmConnection",
    "Call", "Turn", "Nudge",
    "PracticeSession", "PracticeReply", "PracticeScenario", "PracticeAssignment", "PracticeDrill",
    "Recording", "Report", "OutboxItem", "OutboxAttempt",
    "TaskLock",
    "AuditEvent", "PrivacyReceipt",
]
