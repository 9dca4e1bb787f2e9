"""OAuth 2.0 of both CRMs: authorize (auto-approved), code and refresh-token grants, and
HubSpot's token introspection. Shapes follow each vendor's token endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, jsonify, request
from werkzeug.wrappers import Response as BaseResponse

from plugin.sandbox.state import state

bp = Blueprint("sandbox_oauth", __name__)

HS_SCOPES = ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write",
             "crm.objects.companies.read", "crm.objects.deals.read"]


def _redirect(url: str) -> BaseResponse:
    return BaseResponse(status=302, headers={"Location": url})


def _base() -> str:
    return request.host_url.rstrip("/")


def _redirect_ok(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _authorize(vendor: str, expected_client: str) -> BaseResponse:
    client_id = request.args.get("client_id", "")
    redirect_uri = request.args.get("redirect_uri", "")
    if not _redirect_ok(redirect_uri):
        return Response("redirect_uri must be an absolute http(s) URL", status=400,
                        mimetype="text/plain")
    if client_id != expected_client:
        sep = "&" if "?" in redirect_uri else "?"
        err = ("invalid_client_id" if vendor == "salesforce" else "invalid_client")
        return _redirect(redirect_uri + sep + urlencode(
            {"error": err, "error_description": "client identifier invalid",
             "state": request.args.get("state", "")}))
    code = state().store.new_code(vendor, client_id, redirect_uri)
    sep = "&" if "?" in redirect_uri else "?"
    params = {"code": code}
    if "state" in request.args:
        params["state"] = request.args["state"]
    # The sandbox user approves at once: the browser goes straight back with the code.
    return _redirect(redirect_uri + sep + urlencode(params))


@bp.get("/services/oauth2/authorize")
def sf_authorize() -> BaseResponse:
    if request.args.get("response_type", "code") != "code":
        return Response("only response_type=code is supported", status=400)
    return _authorize("salesforce", state().ident["sf_client_id"])


def _sf_oauth_error(error: str, description: str, status: int = 400) -> Response:
    resp = jsonify({"error": error, "error_description": description})
    resp.status_code = status
    return resp


@bp.post("/services/oauth2/token")
def sf_token() -> Response:
    st = state()
    form = request.form
    grant = form.get("grant_type", "")
    secret = form.get("client_secret")
    if form.get("client_id") != st.ident["sf_client_id"] or (
            secret and secret != st.ident["sf_client_secret"]):
        return _sf_oauth_error("invalid_client", "invalid client credentials")
    if grant == "authorization_code":
        if form.get("client_secret") != st.ident["sf_client_secret"]:
            return _sf_oauth_error("invalid_client", "invalid client credentials")
        reason = st.store.redeem_code("salesforce", form.get("code", ""), form["client_id"],
                                      form.get("redirect_uri", ""))
        if reason:
            return _sf_oauth_error("invalid_grant", reason)
        tokens = st.store.issue_tokens("salesforce", form["client_id"])
    elif grant == "refresh_token":
        refresh = form.get("refresh_token", "")
        if st.store.refresh_client("salesforce", refresh) != form["client_id"]:
            return _sf_oauth_error("invalid_grant", "expired access/refresh token")
        tokens = st.store.issue_tokens("salesforce", form["client_id"], refresh)
    else:
        return _sf_oauth_error("unsupported_grant_type", "grant type not supported")
    org, user = st.ident["sf_org_id"], st.ident["sf_user_id"]
    identity_url = f"{_base()}/id/{org}/{user}"
    issued_at = str(int(tokens["issued_at"] * 1000))
    # As Salesforce: base64(HMAC-SHA256(client secret, id + issued_at)) lets clients check
    # the response came from the org that holds their secret.
    signature = base64.b64encode(hmac.new(st.ident["sf_client_secret"].encode(),
                                          (identity_url + issued_at).encode(),
                                          hashlib.sha256).digest()).decode()
    body: dict[str, Any] = {
        "access_token": tokens["access_token"], "signature": signature,
        "scope": "refresh_token api id", "instance_url": _base(), "id": identity_url,
        "token_type": "Bearer", "issued_at": issued_at,
    }
    if grant == "authorization_code":
        body["refresh_token"] = tokens["refresh_token"]
    return jsonify(body)


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def token_problem(vendor: str, token: str) -> str:
    """'' if ``token`` is a live access token of ``vendor``; else 'missing'/'invalid'/'expired'."""
    if not token:
        return "missing"
    row = state().store.token(token)
    if row is None or row["vendor"] != vendor:
        return "invalid"
    if row["expires_at"] < time.time():
        return "expired"
    return ""


@bp.get("/id/<org>/<user>")
@bp.get("/services/oauth2/userinfo")
def sf_identity(org: str = "", user: str = "") -> Response:
    st = state()
    if token_problem("salesforce", _bearer()):
        return Response("Bad_OAuth_Token", status=403, mimetype="text/plain")
    org_id, user_id = st.ident["sf_org_id"], st.ident["sf_user_id"]
    if (org and org != org_id) or (user and user != user_id):
        return Response("Bad_Id", status=404, mimetype="text/plain")
    return jsonify({
        "id": f"{_base()}/id/{org_id}/{user_id}", "asserted_user": True, "user_id": user_id,
        "organization_id": org_id, "username": "dana@salescoach-sandbox.example",
        "nick_name": "dana", "display_name": "Dana Demo", "email": "dana@example.com",
        "email_verified": True, "first_name": "Dana", "last_name": "Demo",
        "timezone": "Europe/London", "active": True, "user_type": "STANDARD",
        "language": "en_US", "locale": "en_GB", "utcOffset": 0,
        "urls": {"rest": f"{_base()}/services/data/v{{version}}/",
                 "sobjects": f"{_base()}/services/data/v{{version}}/sobjects/",
                 "query": f"{_base()}/services/data/v{{version}}/query/"},
        "sub": f"{_base()}/id/{org_id}/{user_id}", "organization_name": "Sandbox Org",
    })


@bp.get("/oauth/authorize")
def hs_authorize() -> BaseResponse:
    return _authorize("hubspot", state().ident["hs_client_id"])


def _hs_oauth_error(status_name: str, message: str, status: int = 400) -> Response:
    resp = jsonify({"status": status_name, "message": message,
                    "correlationId": str(uuid.uuid4())})
    resp.status_code = status
    return resp


@bp.post("/oauth/v1/token")
def hs_token() -> Response:
    st = state()
    form = request.form
    if form.get("client_id") != st.ident["hs_client_id"]:
        return _hs_oauth_error("BAD_CLIENT_ID", "missing or invalid client_id")
    if form.get("client_secret") != st.ident["hs_client_secret"]:
        return _hs_oauth_error("BAD_CLIENT_SECRET", "missing or invalid client_secret")
    grant = form.get("grant_type", "")
    if grant == "authorization_code":
        reason = st.store.redeem_code("hubspot", form.get("code", ""), form["client_id"],
                                      form.get("redirect_uri", ""))
        if reason:
            return _hs_oauth_error("BAD_AUTH_CODE", reason)
        tokens = st.store.issue_tokens("hubspot", form["client_id"])
    elif grant == "refresh_token":
        refresh = form.get("refresh_token", "")
        if st.store.refresh_client("hubspot", refresh) != form["client_id"]:
            return _hs_oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        tokens = st.store.issue_tokens("hubspot", form["client_id"], refresh)
    else:
        return _hs_oauth_error("BAD_GRANT_TYPE", "grant_type must be authorization_code or "
                               "refresh_token")
    return jsonify({"token_type": "bearer", "refresh_token": tokens["refresh_token"],
                    "access_token": tokens["access_token"], "expires_in": tokens["expires_in"]})


@bp.get("/oauth/v1/access-tokens/<token>")
def hs_token_info(token: str) -> Response:
    st = state()
    problem = token_problem("hubspot", token)
    if problem:
        return _hs_oauth_error("error", f"Token {problem}", 404 if problem == "invalid" else 400)
    row = st.store.token(token)
    assert row is not None
    return jsonify({
        "token": token, "user": "dana@example.com", "hub_domain": "salescoach-sandbox.hubspot.com",
        "scopes": HS_SCOPES, "signed_access_token": {}, "hub_id": int(st.ident["hs_portal_id"]),
        "app_id": int(st.ident["hs_app_id"]), "expires_in": int(row["expires_at"] - time.time()),
        "user_id": int(st.ident["hs_user_id"]), "token_type": "access",
    })
