"""Demo CRM pages served by the sandbox: a Salesforce Lightning-style Contact page and a
HubSpot-style contact record, for the seeded customers, hosting the coach through the REAL
entry paths.

- Salesforce: the page posts a canvas ``signed_request`` (signed here with the connected
  app's consumer secret, as Salesforce does) to the web app's ``/sf/canvas`` into an iframe.
- HubSpot: the app card asks ``/demo/hubspot/<id>/card`` on this server, which performs the
  signed request server-side exactly as HubSpot's ``hubspot.fetch`` proxy does (v3 signature,
  ``portalId``/``userId``/``userEmail``/``appId`` query parameters) to the web app's
  ``/hubspot/card/context``, and the card opens the returned ``panel_url`` in a modal iframe.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Blueprint, abort, current_app, jsonify, render_template

from plugin.crm_auth import hubspot_signing_uri, sign_canvas_request, sign_hubspot_v3
from plugin.sandbox.seed_data import directory
from plugin.sandbox.state import state

bp = Blueprint("demo_pages", __name__, url_prefix="/demo", template_folder="templates")

CARD_TIMEOUT_S = 15  # HubSpot's limit for hubspot.fetch
SF_USER = {"fullName": "Dana Demo", "userName": "dana@sandbox.example", "email": "dana@example.com"}


def web_base_url() -> str:
    """Where the Sales Coach web app listens (the target of canvas posts and card fetches):
    ``SALESCOACH_WEB_BASE_URL`` in the sandbox app's config, else the instance's
    ``public_base_url`` setting (instance env file, then environment)."""
    url = current_app.config.get("SALESCOACH_WEB_BASE_URL")
    if not url:
        from plugin.settings import load_settings

        url = load_settings({"instance_path": state().paths.root.parent}).public_base_url
        current_app.config["SALESCOACH_WEB_BASE_URL"] = url
    return str(url).rstrip("/")


def sandbox_base_url() -> str:
    from flask import request

    return request.host_url.rstrip("/")


def _people() -> list[dict[str, str]]:
    return directory(state().ident["sf_org_id"])


def _person(field: str, value: str) -> dict[str, str]:
    for p in _people():
        if p[field] == value:
            return p
    abort(404)


@bp.get("/")
def index() -> Any:
    """The demo customers, each with its Salesforce and HubSpot record page."""
    return render_template("demo_index.html", people=_people(), web=web_base_url(),
                           ident=state().ident)


def canvas_envelope(person: dict[str, str]) -> dict[str, Any]:
    """A canvas request envelope for the record page, shaped as Salesforce sends it."""
    ident = state().ident
    base = sandbox_base_url()
    record_type = person["sf_type"]
    return {
        "algorithm": "HMACSHA256",
        "issuedAt": int(time.time()),
        "userId": ident["sf_user_id"],
        "client": {"instanceId": "_:salescoach:record", "instanceUrl": base,
                   "targetOrigin": base, "oauthToken": None, "refreshToken": None},
        "context": {
            "user": {"userId": ident["sf_user_id"], "language": "en_US", "locale": "en_US",
                     "timeZone": "Europe/London", **SF_USER},
            "organization": {"organizationId": ident["sf_org_id"], "name": "Sandbox Org",
                             "currencyIsoCode": "USD", "multicurrencyEnabled": False},
            "environment": {
                "displayLocation": "PageLayout", "locationUrl": f"{base}/demo/salesforce/"
                f"{person['sf_id']}",
                "dimensions": {"width": "100%", "height": "640px"},
                "parameters": {},
                "record": {"attributes": {"type": record_type,
                                          "url": f"/services/data/v62.0/sobjects/{record_type}/"
                                                 f"{person['sf_id']}"},
                           "Id": person["sf_id"]},
            },
        },
    }


@bp.get("/salesforce/<record_id>")
def salesforce_record(record_id: str) -> Any:
    """Lightning-style record page with the coach as a canvas component."""
    person = _person("sf_id", record_id)
    store = state().store
    record = store.get(person["sf_type"], record_id)
    if record is None:
        abort(404)
    data = record["data"]
    account = store.get("Account", data.get("AccountId") or "") if data.get("AccountId") else None
    tasks = sorted((t for t in store.all("Task") if t["data"].get("WhoId") == record_id),
                   key=lambda t: t["data"].get("ActivityDate") or "", reverse=True)
    opps = [o for o in store.all("Opportunity")
            if account is not None and o["data"].get("AccountId") == account["id"]]
    signed = sign_canvas_request(canvas_envelope(person), state().ident["sf_client_secret"])
    return render_template("demo_salesforce.html", person=person, record=data,
                           account=account["data"] if account else None, tasks=tasks,
                           opportunities=opps, signed_request=signed,
                           canvas_url=f"{web_base_url()}/sf/canvas", people=_people())


def _hubspot_query() -> dict[str, str]:
    """The query parameters HubSpot appends to every ``hubspot.fetch`` request."""
    ident = state().ident
    return {"userId": ident.get("hs_user_id", ""), "userEmail": SF_USER["email"],
            "portalId": ident["hs_portal_id"], "appId": ident.get("hs_app_id", "")}


@bp.get("/hubspot/<contact_id>")
def hubspot_record(contact_id: str) -> Any:
    """HubSpot-style contact record with the Sales Coach app card in the right sidebar."""
    person = _person("hs_id", contact_id)
    store = state().store
    record = store.get("contacts", contact_id)
    if record is None:
        abort(404)
    activities = []
    for obj in ("calls", "notes"):
        for rid, _type in store.associated("contacts", contact_id, obj):
            row = store.get(obj, rid)
            if row is not None:
                activities.append({"kind": obj, **row})
    activities.sort(key=lambda a: a["data"].get("hs_timestamp") or a["created_at"], reverse=True)
    return render_template("demo_hubspot.html", person=person, record=record["data"],
                           activities=activities, people=_people(),
                           portal_id=state().ident["hs_portal_id"])


@bp.post("/hubspot/<contact_id>/card")
def hubspot_card_fetch(contact_id: str) -> Any:
    """What ``hubspot.fetch`` does for the card: sign (v3) and POST to the app's backend."""
    person = _person("hs_id", contact_id)
    ident = state().ident
    body = json.dumps({"portalId": int(ident["hs_portal_id"]),
                       "userId": int(ident.get("hs_user_id") or 0),
                       "userEmail": SF_USER["email"], "objectId": person["hs_id"],
                       "objectType": "CONTACT"}, separators=(",", ":"))
    path, query = "/hubspot/card/context", urlencode(_hubspot_query())
    url = f"{web_base_url()}{path}?{query}"
    # HubSpot signs the URI with the common escapes (%40, %3A, …) decoded.
    signed_uri = hubspot_signing_uri(web_base_url(), path, query)
    signature, timestamp = sign_hubspot_v3("POST", signed_uri, body, ident["hs_client_secret"])
    try:
        resp = requests.post(url, data=body.encode(), timeout=CARD_TIMEOUT_S, headers={
            "Content-Type": "application/json", "X-HubSpot-Signature-v3": signature,
            "X-HubSpot-Request-Timestamp": timestamp, "User-Agent": "HubSpot Connect 2.0"})
    except requests.RequestException as exc:
        return jsonify(error={"code": "backend_unreachable",
                              "message": f"Sales Coach at {web_base_url()} did not answer: "
                                         f"{type(exc).__name__}"}), 502
    try:
        payload = resp.json()
    except ValueError:
        payload = {"error": {"code": "bad_response", "message": resp.text[:200]}}
    return jsonify(payload), resp.status_code
