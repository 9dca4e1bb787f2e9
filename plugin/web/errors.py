"""JSON errors for the API: every failure is a precise 4xx with a code, never a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raise to answer with ``{"error": {"code", "message", "details"}}`` and ``status``."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_body(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    resp = jsonify(error=body)
    resp.status_code = status
    return resp


def not_found(what: str) -> ApiError:
    """The same answer for 'does not exist' and 'belongs to another tenant'."""
    return ApiError(404, "not_found", f"{what} not found")


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Any:
        return error_body(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        code = (exc.name or "error").lower().replace(" ", "_")
        if _wants_json():
            return error_body(exc.code or 500, code, exc.description or exc.name)
        return exc

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_body(500, "internal_error", "unexpected server error; it has been logged")


def _wants_json() -> bool:
    if request.path.startswith(("/api/", "/hubspot/", "/sf/")):
        return True
    return request.accept_mimetypes.best == "application/json"
