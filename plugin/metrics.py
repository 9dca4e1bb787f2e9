"""Prometheus metrics: one home for every series, their exposition and the ``/metrics`` route.

Series are updated where things happen (request hooks, the live pipeline, the CRM session,
the model fallbacks, the WebSocket loop); queue depth and age are read from the broker and
the pipeline tables when scraped. With ``PROMETHEUS_MULTIPROC_DIR`` set, every process writes
its series there and a scrape aggregates them (several web processes on one host).

``/metrics`` is open in development; in production it needs ``Authorization: Bearer
<SALESCOACH_METRICS_TOKEN>`` (404 without a token configured), or scrape the separate port
``SALESCOACH_METRICS_PORT`` that is not exposed by the ingress.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

REQUEST_LATENCY = Histogram(
    "salescoach_http_request_duration_seconds", "HTTP request latency by route",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
AUDIO_TO_NUDGE = Histogram(
    "salescoach_live_audio_to_nudge_seconds",
    "From the arrival of the audio that ends a turn to its nudge being sent to the panel",
    ["source"], buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10))
LIVE_CALLS = Gauge("salescoach_live_calls", "Live calls held by this web process",
                   multiprocess_mode="livesum")
WS_CONNECTIONS = Gauge("salescoach_ws_connections", "Open WebSocket connections",
                       multiprocess_mode="livesum")
CRM_ERRORS = Counter("salescoach_crm_errors_total",
                     "CRM API calls that failed, by HTTP status ('network' without one)",
                     ["status"])
MODEL_FALLBACKS = Counter("salescoach_model_fallbacks_total",
                          "Cloud model answers replaced by the local engine",
                          ["component", "primary", "fallback"])

QUEUE_CACHE_S = 5.0  # a scrape storm reads the broker and the tables at most this often


def crm_error(status: int | None) -> None:
    CRM_ERRORS.labels(status=str(status) if status else "network").inc()


def model_fallback(component: str, primary: str, fallback: str) -> None:
    MODEL_FALLBACKS.labels(component=component, primary=primary, fallback=fallback).inc()


# -- queue depth and age (read at scrape time) --------------------------------------------

def broker_depths(settings: Any) -> dict[str, int]:
    """Messages waiting per Celery queue, asked of the broker (passive declare)."""
    from workers.celery_app import QUEUES, get_celery

    depths: dict[str, int] = {}
    with get_celery().connection_for_read() as conn:
        channel = conn.default_channel
        for queue in QUEUES:
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except Exception:  # noqa: BLE001 - a queue not declared yet holds nothing
                depths[queue] = 0
    return depths


def pipeline_backlog(now: datetime | None = None) -> dict[str, tuple[int, float]]:
    """(count, age in seconds of the oldest) of unfinished post-call work per kind."""
    from sqlalchemy import func, select

    from plugin.db import db
    from plugin.models import OutboxItem, Recording

    now = now or datetime.now(UTC)
    out: dict[str, tuple[int, float]] = {}
    with db.session_scope() as s:
        for kind, model, column, where in (
                ("recording", Recording, Recording.created_at,
                 Recording.status.in_(("queued", "running"))),
                ("outbox", OutboxItem, OutboxItem.created_at,
                 OutboxItem.status.in_(("pending", "sending")))):
            count, oldest = s.execute(select(func.count(), func.min(column))
                                      .select_from(model).where(where)).one()
            age = 0.0
            if oldest is not None:
                if oldest.tzinfo is None:
                    oldest = oldest.replace(tzinfo=UTC)
                age = max(0.0, (now - oldest).total_seconds())
            out[kind] = (int(count or 0), age)
    return out


class QueueCollector(Collector):
    """Queue depth per Celery queue and the pipeline tables' backlog, cached briefly."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._at = -1e9
        self._cached: list[GaugeMetricFamily] = []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        with self._lock:
            if time.monotonic() - self._at > QUEUE_CACHE_S:
                self._cached = self._read()
                self._at = time.monotonic()
            return list(self._cached)

    def _read(self) -> list[GaugeMetricFamily]:
        depth = GaugeMetricFamily("salescoach_queue_depth", "Messages waiting in a Celery queue",
                                  labels=["queue"])
        up = GaugeMetricFamily("salescoach_broker_up", "1 when the broker answered the scrape")
        try:
            for queue, n in broker_depths(self.settings).items():
                depth.add_metric([queue], n)
            up.add_metric([], 1)
        except Exception:  # noqa: BLE001 - a broker outage is a value, not a failed scrape
            log.warning("metrics: the broker did not answer", exc_info=True)
            up.add_metric([], 0)
        pending = GaugeMetricFamily("salescoach_pipeline_pending",
                                    "Unfinished post-call work in the pipeline tables",
                                    labels=["kind"])
        age = GaugeMetricFamily("salescoach_pipeline_oldest_pending_seconds",
                                "Age of the oldest unfinished post-call work", labels=["kind"])
        try:
            for kind, (count, oldest) in pipeline_backlog().items():
                pending.add_metric([kind], count)
                age.add_metric([kind], oldest)
        except Exception:  # noqa: BLE001
            log.warning("metrics: the pipeline tables could not be read", exc_info=True)
        return [depth, up, pending, age]


# -- exposition ---------------------------------------------------------------------------

def exposition(queues: QueueCollector | None) -> bytes:
    """The text format of every series of this process (or of all, in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if queues is not None:
        extra = CollectorRegistry(auto_describe=False)
        extra.register(queues)
        body += generate_latest(extra)
    return body


def authorised(settings: Any, header: str) -> bool | None:
    """True/False for a scrape of ``/metrics``; None means the route does not exist here
    (production without a token: scrape the metrics port instead)."""
    token = settings.metrics_token
    if not token:
        return None if settings.env == "production" else True
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


_port_started: set[int] = set()


def serve_port(port: int, queues: QueueCollector | None) -> None:
    """Serve the exposition on its own port (once per process), e.g. in the workers."""
    if port <= 0 or port in _port_started:
        return
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = exposition(queues)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    try:
        server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 - a pod port
    except OSError as exc:  # another process of this host serves it (e.g. `salescoach run`)
        log.warning("metrics port %d not served by this process: %s", port, exc)
        _port_started.add(port)
        return
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    _port_started.add(port)
    log.info("metrics on port %d", port)


def init_app(app: Any) -> None:
    """INIT_HOOKS entry: time every request, serve ``/metrics`` (and the metrics port)."""
    from flask import Response, g, request

    settings = app.config["SETTINGS"]
    queues = QueueCollector(settings)
    app.extensions["salescoach.metrics"] = queues

    @app.before_request
    def _start_timer() -> None:
        g.metrics_t0 = time.perf_counter()

    @app.after_request
    def _observe(response: Any) -> Any:
        t0 = g.pop("metrics_t0", None)
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if t0 is not None and not rule.startswith("/ws/"):  # a socket lasts the whole call
            REQUEST_LATENCY.labels(method=request.method, route=rule,
                                   status=str(response.status_code)).observe(
                time.perf_counter() - t0)
        return response

    def metrics_view() -> Any:
        allowed = authorised(settings, request.headers.get("Authorization", ""))
        if allowed is None:
            return Response("not found\n", status=404, mimetype="text/plain")
        if not allowed:
            return Response("unauthorised\n", status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return Response(exposition(queues), mimetype=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
    if settings.metrics_port and settings.env != "test":
        serve_port(settings.metrics_port, queues)
