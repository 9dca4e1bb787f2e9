"""OAuth tokens of a CRM connection and the refresh-token grant of each vendor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import requests

from plugin.providers.errors import ProviderError, ProviderInputError, ProviderUnavailable


@dataclass(frozen=True, slots=True)
class OAuthTokens:
    access_token: str
    refresh_token: str
    instance_url: str  # Salesforce instance URL / HubSpot API host
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OAuthApp:
    """The app we are to the CRM: who refreshes tokens, where, trusting which CA."""

    client_id: str
    client_secret: str
    token_url: str
    verify: bool | str = True


TokenSaver = Callable[[OAuthTokens], None]


def _post_form(url: str, data: dict[str, str], verify: bool | str) -> requests.Response:
    try:
        return requests.post(url, data=data, timeout=(5, 20), verify=verify)
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"token endpoint unreachable: {exc}") from exc


def _grant_error(vendor: str, resp: requests.Response) -> ProviderError:
    try:
        body: Any = resp.json()
    except ValueError:
        body = {}
    detail = (body.get("error_description") or body.get("message") or body.get("error")
              or resp.text[:200]) if isinstance(body, dict) else resp.text[:200]
    if resp.status_code in (408, 429) or resp.status_code >= 500:
        return ProviderUnavailable(f"{vendor} token refresh failed ({resp.status_code}): {detail}",
                                   status=resp.status_code)
    return ProviderInputError(
        f"{vendor} refused to refresh the access token ({detail}); an admin must reconnect "
        f"{vendor} on the Sales Coach admin page", status=resp.status_code)


def refresh_salesforce(app: OAuthApp, tokens: OAuthTokens) -> OAuthTokens:
    """``grant_type=refresh_token`` at ``/services/oauth2/token``; the refresh token is kept."""
    if not tokens.refresh_token:
        raise ProviderInputError("the Salesforce session expired and no refresh token is "
                                 "stored; reconnect Salesforce on the admin page", status=401)
    resp = _post_form(app.token_url, {"grant_type": "refresh_token",
                                      "refresh_token": tokens.refresh_token,
                                      "client_id": app.client_id,
                                      "client_secret": app.client_secret}, app.verify)
    if resp.status_code != 200:
        raise _grant_error("Salesforce", resp)
    body = resp.json()
    return replace(tokens, access_token=str(body["access_token"]),
                   instance_url=str(body.get("instance_url") or tokens.instance_url).rstrip("/"),
                   refresh_token=str(body.get("refresh_token") or tokens.refresh_token))
