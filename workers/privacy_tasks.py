"""Celery task of the privacy area: the hourly retention run (beat ``salescoach-retention``).

Thin over ``plugin.privacy.retention``; idempotent, so a redelivered or doubled run deletes
nothing more than one run would.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from flask import current_app

from plugin.privacy import retention


@shared_task(name="salescoach.privacy.retention", acks_late=True, soft_time_limit=540,
             time_limit=600)
def enforce_retention(tenant_id: str | None = None) -> list[dict[str, Any]]:
    """Delete what each tenant (or only ``tenant_id``) keeps no longer; returns the counts."""
    root = current_app.config["SETTINGS"].instance_path
    if tenant_id:
        return [retention.enforce(tenant_id, root)]
    return retention.enforce_all(root)
