"""Browser fixtures: the demo CRM pages on a DIFFERENT SITE from the panel.

The CRM sandbox serves its demo pages on ``https://127.0.0.1:<port>`` while the web app is
reached as ``http://localhost:<port>``, so in Chromium (default privacy settings) the panel
is a cross-site, third-party frame exactly as inside Salesforce or HubSpot: third-party
storage is refused and the frames' permissions policies apply.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plugin.sandbox.server import SandboxHandle, start_sandbox
from tests.support import serve_wsgi


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-instance")


@pytest.fixture(scope="module")
def crm_sandbox(instance_path: Path) -> Iterator[SandboxHandle]:
    handle = start_sandbox(instance_path)
    yield handle
    handle.stop()


_WARM: dict[str, threading.Thread] = {}


def warm_live_engines(settings: Any) -> threading.Thread:
    """Load the speech model and the coach once per test process, in the background, so a
    call's start does not wait minutes for them on a busy machine."""
    if "thread" not in _WARM:
        from plugin.live import engines

        _WARM["thread"] = engines.warm_up_in_background(settings)
    return _WARM["thread"]


@pytest.fixture
def live_engines(app: Any) -> None:
    """Wait until the live engines are loaded (started by ``web``)."""
    warm_live_engines(app.config["SETTINGS"]).join(timeout=900)


@pytest.fixture
def web(app: Any, crm_sandbox: SandboxHandle) -> Iterator[str]:
    """The web app on a real port under the host name ``localhost`` (the sandbox is on
    127.0.0.1: another site); canvas posts, card fetches and pop-out links go there."""
    app.extensions["salescoach.live"].grace_s = 3.0
    warm_live_engines(app.config["SETTINGS"])
    with serve_wsgi(app) as url:
        url = url.replace("127.0.0.1", "localhost")
        app.config["SETTINGS"].public_base_url = url
        crm_sandbox.app.config["SALESCOACH_WEB_BASE_URL"] = url
        yield url


def connect_hubspot(settings: Any, sandbox: SandboxHandle) -> str:
    """Connect the sandbox HubSpot portal's tenant (as an admin would) with minted tokens."""
    from datetime import UTC, datetime, timedelta

    import requests

    from plugin.crm import OAuthTokens, save_connection
    from plugin.db import db
    from plugin.tenancy import ensure_tenant
    from plugin.web.crm_common import tenant_id_for

    tenant_id = tenant_id_for("hubspot", str(sandbox.state.ident["hs_portal_id"]))
    minted = requests.post(sandbox.base_url + "/_sandbox/tokens", json={"vendor": "hubspot"},
                           headers=sandbox.admin_headers, verify=sandbox.ca_path,
                           timeout=10).json()
    with db.session_scope() as s:
        ensure_tenant(s, tenant_id, "hubspot")
        save_connection(s, settings, tenant_id, "hubspot", OAuthTokens(
            access_token=minted["access_token"], refresh_token=minted["refresh_token"],
            instance_url=sandbox.base_url,
            expires_at=datetime.now(UTC) + timedelta(seconds=int(minted["expires_in"]))))
    return tenant_id


@pytest.fixture(scope="session")
def customer_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake microphone: the customer's price objection from the bundled demo call
    (right channel, 43.0-48.0 s), between silences."""
    import wave

    from plugin.demo_calls import demo_call_audio
    from plugin.live.scripted import write_wav

    with wave.open(str(demo_call_audio("price_objection"))) as w:
        stereo = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    line = stereo[43_000 * 16:48_200 * 16, 1]
    pad = np.zeros(16000, dtype=np.int16)
    path: Path = write_wav(tmp_path_factory.mktemp("browser-audio") / "customer.wav",
                           np.concatenate([pad, line, pad, pad, pad, pad]))
    return path
