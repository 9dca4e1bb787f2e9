"""``/demo/crm``: the web app's door to the demo CRM pages served by the CRM sandbox."""

from __future__ import annotations

from typing import Any

import requests
from flask import Blueprint, render_template

from plugin.db import request_session
from plugin.web.crm_common import crm_app, is_connected, settings, tenant_id_for
from plugin.web.errors import ApiError

bp = Blueprint("demo_crm", __name__)


@bp.get("/demo/crm")
def landing() -> Any:
    """Links to the sandbox's Salesforce- and HubSpot-style record pages and their status."""
    cfg = settings()
    if not cfg.demo:
        raise ApiError(404, "not_found", "demo mode is off")
    try:
        from plugin.sandbox.config import sandbox_credentials
    except ImportError:
        raise ApiError(404, "not_found", "the CRM sandbox is not installed") from None
    creds = sandbox_credentials(cfg)
    running = True
    try:
        requests.get(creds.base_url + "/_sandbox/health", verify=creds.ca_path, timeout=3)
    except requests.RequestException:
        running = False
    session = request_session()
    rows = []
    for kind, external in (("salesforce", creds.sf_org_id), ("hubspot", creds.hs_portal_id)):
        try:
            source = crm_app(cfg, kind).source
        except ApiError:
            source = "unavailable"
        tenant = tenant_id_for(kind, external)
        rows.append({"kind": kind, "tenant": tenant, "source": source,
                     "connected": is_connected(session, tenant, kind)})
    return render_template("demo_crm.html", base=creds.base_url, running=running, rows=rows,
                           web=cfg.public_base_url)
