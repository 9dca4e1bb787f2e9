"""The one request-parsing layer: every route reads JSON, form, query and path input here.

``init_app`` installs, for every request, before any view runs: JSON bodies parsed with
``plugin.safejson`` (depth limited before parsing, 64-bit integers, no NUL or lone
surrogates), the same text checks on query, form and path values, and an ``int`` URL
converter that takes ASCII digits only and nothing above 64 bits (404 otherwise). Views then
take typed values with ``json_object``, ``body_str``/``body_int``/``body_bool``,
``arg_str``/``arg_int`` and ``form_str``; each refusal is a 400 naming the field.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

from plugin.safejson import ID_MAX, INT_MAX, UnsafeInput, check_text, parse_int
from plugin.safejson import loads as safe_loads
from plugin.web.errors import ApiError

MAX_ARG_CHARS = 4096  # any one query value
MAX_PATH_CHARS = 2048  # any one path value (signed pop-out codes run to hundreds)


def refuse(message: str, field: str = "", code: str = "invalid_request") -> NoReturn:
    """Raise the 400 every input problem answers with."""
    details = {"field": field} if field else {}
    raise ApiError(400, code, message, **details)


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, parsing through ``plugin.safejson`` (raises ``UnsafeInput``)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return safe_loads(s)


class SafeRequest(Request):
    """A request whose JSON parse failures are a 400 with the reason, not a bare 'bad JSON'."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            return super().on_json_loading_failed(e)  # 415: not a JSON body
        if isinstance(e, UnsafeInput):
            refuse(e.message, e.field, e.code)
        refuse("body is not valid JSON", code="invalid_json")


class AsciiIntConverter(IntegerConverter):
    """``<int:…>`` row ids: ASCII digits only, at most 2**31 - 1 (the INTEGER id columns;
    Unicode digits or more → 404)."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", ID_MAX)
        super().__init__(map, *args, **kwargs)


def _check(value: str, field: str, max_len: int | None = None) -> None:
    try:
        check_text(value, field, max_len)
    except UnsafeInput as exc:
        refuse(exc.message, field)


def check_request() -> None:
    """Refuse undecodable or unstorable input before any view sees it."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            _check(value, name, MAX_PATH_CHARS)
    for name, value in request.args.items(multi=True):
        _check(name or "", "query parameter name", 200)
        _check(value, name, MAX_ARG_CHARS)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            _check(name or "", "form field name", 200)
            _check(value, name)
        for name, file in request.files.items(multi=True):
            _check(file.filename or "", f"{name or ''} filename", 255)
    if request.is_json and (request.content_length or request.headers.get("Transfer-Encoding")):
        request.get_json()  # parsed and cached once; errors are a 400 from SafeRequest


def init_app(app: Flask) -> None:
    """Install the parsing layer; call before any blueprint is registered."""
    app.url_map.converters["int"] = AsciiIntConverter
    app.json = SafeJSONProvider(app)
    app.request_class = SafeRequest
    app.before_request(check_request)


# Typed access for views -------------------------------------------------------------------


def json_object(required: bool = False) -> dict[str, Any]:
    """The JSON body as an object; {} when there is none (unless ``required``)."""
    body = request.get_json(silent=True) if request.is_json else None
    if body is None:
        if required:
            refuse("send a JSON object body (Content-Type: application/json)",
                   code="invalid_json")
        return {}
    if not isinstance(body, dict):
        refuse(f"body must be a JSON object, not {type(body).__name__}")
    return body


def _typed_str(value: Any, field: str, max_len: int, default: str, strip: bool) -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        refuse(f"{field} must be a string", field)
    if strip:
        value = value.strip()
    _check(value, field, max_len)
    return value


def body_str(body: dict[str, Any], field: str, max_len: int, *, default: str = "",
             required: bool = False, strip: bool = True) -> str:
    """A string field of a JSON body, at most ``max_len`` characters."""
    value = _typed_str(body.get(field), field, max_len, default, strip)
    if required and not value:
        refuse(f"missing {field}", field)
    return value


def body_int(body: dict[str, Any], field: str, *, default: int | None = None,
             lo: int = -INT_MAX - 1, hi: int = INT_MAX) -> int | None:
    """An integer field (a JSON number or an ASCII-digit string) in [lo, hi]; absent, null
    or "" → ``default``."""
    value = body.get(field)
    if value is None or value == "":
        return default
    try:
        return parse_int(value, field, lo, hi)
    except UnsafeInput as exc:
        refuse(exc.message, field)


def body_bool(body: dict[str, Any], field: str, default: bool | None = None) -> bool | None:
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, bool):
        refuse(f"{field} must be true or false", field)
    return value


def body_list(body: dict[str, Any], field: str, max_items: int) -> list[Any]:
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        refuse(f"{field} must be an array", field)
    if len(value) > max_items:
        refuse(f"{field} has more than {max_items} items", field)
    return value


def body_dict(body: dict[str, Any], field: str) -> dict[str, Any]:
    value = body.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        refuse(f"{field} must be an object", field)
    return value


def arg_str(name: str, max_len: int, default: str = "", code: str = "invalid_request") -> str:
    """A query parameter, stripped, at most ``max_len`` characters."""
    value = request.args.get(name)
    if value is None:
        return default
    value = value.strip()
    try:
        check_text(value, name, max_len)
    except UnsafeInput as exc:
        refuse(exc.message, name, code)
    return value


def arg_int(name: str, default: int, lo: int, hi: int, code: str = "invalid_request") -> int:
    """An integer query parameter in [lo, hi] (ASCII digits)."""
    value = request.args.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return parse_int(value, name, lo, hi)
    except UnsafeInput as exc:
        refuse(exc.message, name, code)


def form_str(name: str, max_len: int, default: str = "") -> str:
    """A form field, stripped, at most ``max_len`` characters."""
    value = request.form.get(name)
    if value is None:
        return default
    value = value.strip()
    _check(value, name, max_len)
    return value


def form_int(name: str, default: int | None, lo: int, hi: int = INT_MAX) -> int | None:
    """An integer form field in [lo, hi] (ASCII digits); ``default`` when absent or empty."""
    value = request.form.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return parse_int(value, name, lo, hi)
    except UnsafeInput as exc:
        refuse(exc.message, name)


def id_value(value: Any, field: str, max_len: int = 64) -> str:
    """A path/body id as text: a string or an integer, at most ``max_len`` characters."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        refuse(f"{field} must be a string", field)
    text = str(value).strip()
    _check(text, field, max_len)
    return text
