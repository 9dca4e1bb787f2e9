"""Logging: one line per record, JSON (production default) or text, with the request, call
and tenant ids where known, and never a credential.

``configure(settings)`` installs the root handler (``SALESCOACH_LOG_FORMAT=json|text``);
``init_app`` gives every request an id (``X-Request-ID`` in and out); workers bind the task
id and the call or recording through ``bind``. Every line goes through ``redact``, which blanks
session tokens in URLs (``?t=``, ``?s=``), ``token``/``secret`` fields, ``Authorization``
headers, bearer tokens and signed requests, whatever logger wrote it (gunicorn's access log
included, see ``GunicornLogger``).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

HIDDEN = "[redacted]"

_CONTEXT: dict[str, contextvars.ContextVar[str]] = {
    name: contextvars.ContextVar(f"salescoach_{name}", default="")
    for name in ("request_id", "call_id", "tenant_id")}

_SECRET_NAMES = (r"(?:access_|refresh_|id_|stream_|api_)?token|t|s|code|signed_request|"
                 r"client_secret|secret|password|api_key|key|sig|signature")
_PATTERNS = [
    # query strings: ?t=…, &token=…, ?signed_request=…
    re.compile(rf"(?i)([?&](?:{_SECRET_NAMES})=)[^&\s\"'<>]+"),
    # Authorization headers, in any quoting
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic)\s+)?[^\s\"',}]+"),
    # bearer tokens anywhere
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # JSON / repr / key=value fields named like a secret
    re.compile(r"(?i)([\"']?(?:access_token|refresh_token|id_token|token|client_secret|"
               r"secret_key|encryption_key|api_key|password|signed_request)[\"']?\s*[:=]\s*"
               r"[\"']?)[^\s\"',}&]+"),
]


def redact(text: str) -> str:
    """``text`` with every credential-looking value replaced by ``[redacted]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + HIDDEN, text)
    return text


def context() -> dict[str, str]:
    """The ids bound to this thread/task/request (empty ones left out)."""
    out = {name: var.get() for name, var in _CONTEXT.items() if var.get()}
    try:
        from flask import g, has_request_context, request

        if has_request_context():
            identity = g.get("identity")
            if identity is not None and "tenant_id" not in out:
                out["tenant_id"] = str(getattr(identity, "tenant_id", "") or "")
            call_id = (request.view_args or {}).get("call_id")
            if call_id and "call_id" not in out:
                out["call_id"] = str(call_id)
    except Exception:  # noqa: BLE001 - logging must never fail
        pass
    return {k: v for k, v in out.items() if v}


Bound = list[tuple[contextvars.ContextVar[str], contextvars.Token[str]]]


def push(**ids: str) -> Bound:
    """Bind ids (request_id, call_id, tenant_id) until ``pop``; see ``bind``."""
    return [(_CONTEXT[k], _CONTEXT[k].set(str(v))) for k, v in ids.items()
            if k in _CONTEXT and v]


def pop(bound: Bound) -> None:
    for var, token in reversed(bound):
        try:
            var.reset(token)
        except ValueError:  # bound in another context
            var.set("")


@contextmanager
def bind(**ids: str) -> Iterator[None]:
    """Attach ids (request_id, call_id, tenant_id) to every line logged inside the block."""
    bound = push(**ids)
    try:
        yield
    finally:
        pop(bound)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the bound ids, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name,
            "msg": redact(record.getMessage()), **context()}
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = redact(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, the bound ids in brackets, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = context()
        if ids:
            head, sep, tail = line.partition(": ")
            line = f"{head} [{' '.join(f'{k}={v}' for k, v in ids.items())}]{sep}{tail}"
        return redact(line)


def formatter(json_lines: bool) -> logging.Formatter:
    return JsonFormatter() if json_lines else TextFormatter()


def configure(settings: Any, level: int = logging.INFO) -> None:
    """Install (or re-format) the root handler: stderr, JSON or text, redacted."""
    root = logging.getLogger()
    fmt = formatter(settings.json_logs)
    ours = [h for h in root.handlers if getattr(h, "_salescoach", False)]
    if ours:
        for handler in ours:
            handler.setFormatter(fmt)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._salescoach = True  # type: ignore[attr-defined]
    handler.setFormatter(fmt)
    # Handlers installed before us (pytest's capture, celery's) still get redacted lines.
    for other in root.handlers:
        other.setFormatter(_Redacting(other.formatter))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)


class _Redacting(logging.Formatter):
    """Wraps another handler's formatter so its lines are redacted too."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def init_app(app: Any) -> None:
    """Every request gets an id (the caller's ``X-Request-ID`` if sane), echoed back."""
    from flask import g, request

    @app.before_request
    def _request_id() -> None:
        given = request.headers.get("X-Request-ID", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.request_id = rid
        g.log_context = _CONTEXT["request_id"].set(rid)

    @app.after_request
    def _echo(response: Any) -> Any:
        rid = g.get("request_id")
        if rid:
            response.headers["X-Request-ID"] = rid
        return response

    @app.teardown_request
    def _unbind(_exc: BaseException | None) -> None:
        token = g.pop("log_context", None)
        if token is not None:
            try:
                _CONTEXT["request_id"].reset(token)
            except ValueError:  # set in another context (a streamed response)
                _CONTEXT["request_id"].set("")


from gunicorn.glogging import Logger as _GunicornBase  # noqa: E402 - a dependency


class GunicornLogger(_GunicornBase):
    """``gunicorn --logger-class plugin.logs.GunicornLogger``: its error and access lines go
    through ``redact`` (access lines carry the query string), as JSON when configured."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        import os

        json_lines = os.environ.get("SALESCOACH_LOG_FORMAT", "").lower() == "json" or (
            not os.environ.get("SALESCOACH_LOG_FORMAT")
            and os.environ.get("SALESCOACH_ENV", "") == "production")
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter(True) if json_lines
                                     else _Redacting(handler.formatter))
