"""Observability: /metrics (open in development, closed in production), request latency by
route, queue depth and pipeline age, CRM errors by status, model fallbacks; JSON logs with the
request and tenant ids and no credentials."""

from __future__ import annotations

import io
import json
import logging
import secrets
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from prometheus_client import REGISTRY

from plugin.logs import JsonFormatter, TextFormatter, bind, redact
from tests.support import serve_wsgi


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_show_request_latency_by_route_and_the_queues(client: Any) -> None:
    before = sample("salescoach_http_request_duration_seconds_count", method="GET",
                    route="/healthz", status="200")
    assert client.get("/healthz").status_code == 200
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    assert sample("salescoach_http_request_duration_seconds_count", method="GET",
                  route="/healthz", status="200") == before + 1
    assert 'route="/healthz"' in text
    # queue depth from the (embedded) broker and the pipeline tables' backlog
    assert "salescoach_broker_up 1.0" in text
    for queue in ("transcription", "analysis", "crm", "live"):
        assert f'salescoach_queue_depth{{queue="{queue}"}}' in text
    assert 'salescoach_pipeline_oldest_pending_seconds{kind="recording"}' in text
    assert "salescoach_live_calls" in text and "salescoach_ws_connections" in text


def test_queue_metrics_count_unfinished_recordings(app: Any, client: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from plugin.db import db
    from plugin.models import Recording
    from plugin.tenancy import ensure_tenant

    with db.session_scope() as s:
        ensure_tenant(s, "t-metrics", "demo")
        s.add(Recording(tenant_id="t-metrics", filename="a.wav", path="/x", status="queued",
                        created_at=datetime.now(UTC) - timedelta(minutes=20)))
    app.extensions["salescoach.metrics"]._at = -1e9  # skip the 5 s cache
    text = client.get("/metrics").get_data(as_text=True)
    line = next(ln for ln in text.splitlines()
                if ln.startswith('salescoach_pipeline_oldest_pending_seconds{kind="recording"}'))
    assert float(line.split()[-1]) >= 20 * 60 - 5
    pending = next(ln for ln in text.splitlines()
                   if ln.startswith('salescoach_pipeline_pending{kind="recording"}'))
    assert float(pending.split()[-1]) >= 1


@pytest.fixture
def production(database_url: str, tmp_path: Any) -> Any:
    from plugin.app import create_app

    def make(**extra: Any) -> Any:
        return create_app({"env": "production", "database_url": database_url,
                           "instance_path": tmp_path, "demo": False,
                           "secret_key": secrets.token_urlsafe(48),
                           "encryption_key": Fernet.generate_key().decode(), **extra})
    return make


def test_metrics_are_not_public_in_production(production: Any) -> None:
    closed = production().test_client()
    assert closed.get("/metrics").status_code == 404
    guarded = production(metrics_token="scrape-token-123").test_client()
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = guarded.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    assert ok.status_code == 200 and b"salescoach_http_request_duration_seconds" in ok.data


def test_crm_errors_are_counted_by_status() -> None:
    from plugin.crm.http import CrmSession

    crm = Flask("fake-crm-api")

    @crm.get("/busy")
    def busy() -> Any:
        return "slow down", 429

    @crm.get("/ok")
    def ok() -> Any:
        return "fine"

    before = sample("salescoach_crm_errors_total", status="429")
    before_net = sample("salescoach_crm_errors_total", status="network")
    with serve_wsgi(crm) as base:
        http = CrmSession()
        assert http.get(base + "/busy").status_code == 429
        assert http.get(base + "/ok").status_code == 200
        port = int(base.rsplit(":", 1)[1])
    with pytest.raises(Exception):  # noqa: B017 - the server is gone: a network error
        CrmSession().get(f"http://127.0.0.1:{port}/ok")
    assert sample("salescoach_crm_errors_total", status="429") == before + 1
    assert sample("salescoach_crm_errors_total", status="network") == before_net + 1


def test_a_cloud_model_failure_counts_a_fallback_to_the_local_engine() -> None:
    from plugin.coach.playbook import default_playbook
    from plugin.coach.types import Turn
    from plugin.llm import deep_request, get_llm
    from plugin.settings import Settings

    settings = Settings(llm_engine="gemini", gemini_api_key="k",
                        gemini_base_url="http://127.0.0.1:9")  # nothing listens there
    model = get_llm(settings, default_playbook())
    labels = {"component": "deep_tier", "primary": model.primary.name,  # type: ignore[attr-defined]
              "fallback": "local"}
    before = sample("salescoach_model_fallbacks_total", **labels)
    advice = model.advise(deep_request(
        [Turn(1, "customer", "Honestly the price is too high for us.", 0, 2000)],
        default_playbook()))
    assert advice is not None
    assert sample("salescoach_model_fallbacks_total", **labels) == before + 1


# -- logs -------------------------------------------------------------------------------------

SECRETS = [
    ("GET /ws/calls?t=eyJhbGciOi.secret.sig HTTP/1.1", "eyJhbGciOi.secret.sig"),
    ("GET /panel/calls/abc?s=sharesig123&x=1", "sharesig123"),
    ("headers {'Authorization': 'Bearer abcdef123456789'}", "abcdef123456789"),
    ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    ('{"access_token": "00Dxx!AQ4AQ.tok", "refresh_token": "5Aep861.ref"}', "00Dxx!AQ4AQ.tok"),
    ('{"access_token": "00Dxx!AQ4AQ.tok", "refresh_token": "5Aep861.ref"}', "5Aep861.ref"),
    ("POST /canvas signed_request=bXlzaWc.eyJhbGci", "bXlzaWc.eyJhbGci"),
    ("token=plain-token-value in a sentence", "plain-token-value"),
]


@pytest.mark.parametrize(("line", "secret"), SECRETS)
def test_redact_removes_every_kind_of_credential(line: str, secret: str) -> None:
    out = redact(line)
    assert secret not in out and "[redacted]" in out


def test_redact_keeps_ordinary_text() -> None:
    line = "call 3f2a ended after 120 s; 4 nudges; GET /api/v1/calls?limit=20"
    assert redact(line) == line


def _capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"salescoach.test.{id(buf)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, buf


def test_json_logs_carry_request_tenant_and_call_ids_and_no_tokens(app: Any,
                                                                   tenants: Any) -> None:
    logger, buf = _capture(JsonFormatter())
    identity = tenants.identity("t-logs", "rep-logs")
    headers = {**tenants.headers(identity), "X-Request-ID": "req-42"}

    @app.get("/_test/log/<call_id>")
    def _logged(call_id: str) -> Any:
        from plugin.web.auth import authenticate

        authenticate()
        logger.info("opened %s with ?t=%s", call_id, "secret-session-token")
        return "ok"

    resp = app.test_client().get("/_test/log/call-9", headers=headers)
    assert resp.status_code == 200 and resp.headers["X-Request-ID"] == "req-42"
    record = json.loads(buf.getvalue().strip().splitlines()[-1])
    assert record["request_id"] == "req-42" and record["tenant_id"] == "t-logs"
    assert record["call_id"] == "call-9" and record["level"] == "INFO"
    assert "secret-session-token" not in buf.getvalue() and "[redacted]" in record["msg"]


def test_a_bad_request_id_is_replaced_and_workers_bind_their_own(app: Any) -> None:
    resp = app.test_client().get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    rid = resp.headers["X-Request-ID"]
    assert rid != "bad id <script>" and len(rid) == 32
    logger, buf = _capture(TextFormatter())
    with bind(request_id="task-1", call_id="c-7", tenant_id="t-9"):
        logger.warning("retrying with Authorization: Bearer abcdefghijklmnop")
    logger.warning("outside")
    first, second = buf.getvalue().strip().splitlines()
    assert "[request_id=task-1 call_id=c-7 tenant_id=t-9]" in first
    assert "abcdefghijklmnop" not in first and "[" not in second.split(": ", 1)[0]


def test_production_logs_are_json_by_default() -> None:
    from plugin.settings import Settings

    prod = {"env": "production", "demo": False, "secret_key": secrets.token_urlsafe(48),
            "encryption_key": Fernet.generate_key().decode()}
    assert Settings(**prod).json_logs
    assert not Settings(env="development").json_logs
    assert Settings(env="development", log_format="json").json_logs
    assert not Settings(**prod, log_format="text").json_logs
