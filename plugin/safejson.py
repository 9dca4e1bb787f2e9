"""JSON and text that are safe to hand to the rest of the product (no Flask here).

Used by the HTTP request layer (``plugin.web.inputs``), the live socket parser and the signed
CRM requests. Refuses, with a message naming the place: nesting deeper than ``MAX_DEPTH``
(checked by a scan before parsing, so the parser never recurses deeply), integers outside
64 bits, non-finite numbers, NUL characters (PostgreSQL rejects them) and lone surrogates
(not encodable as UTF-8).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
ID_MAX = 2**31 - 1  # row ids are INTEGER columns: 32 bits on PostgreSQL

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ASCII_INT = re.compile(r"-?[0-9]+\Z")


class UnsafeInput(ValueError):
    """Input refused; ``message`` says what and where, safe to show to the caller."""

    def __init__(self, message: str, field: str = "", code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message, self.field, self.code = message, field, code


def text_problem(value: str) -> str:
    """Why ``value`` cannot be stored as text, or "" when it can."""
    if "\x00" in value:
        return "contains a NUL character"
    if _SURROGATE.search(value):
        return "is not valid Unicode (lone surrogate)"
    return ""


def check_text(value: str, field: str, max_len: int | None = None) -> str:
    """``value`` if it is storable text of at most ``max_len`` characters."""
    problem = text_problem(value)
    if problem:
        raise UnsafeInput(f"{field} {problem}", field)
    if max_len is not None and len(value) > max_len:
        raise UnsafeInput(f"{field} is longer than {max_len} characters", field)
    return value


def parse_int(value: Any, field: str, lo: int = INT_MIN, hi: int = INT_MAX) -> int:
    """An integer from an int or an ASCII decimal string (not "١٢", not "1e3"), in [lo, hi]."""
    if isinstance(value, bool):
        raise UnsafeInput(f"{field} must be an integer", field)
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not _ASCII_INT.match(text) or len(text) > 20:
            raise UnsafeInput(f"{field} must be an integer (ASCII digits)", field)
        value = int(text)
    if not isinstance(value, int):
        raise UnsafeInput(f"{field} must be an integer", field)
    if not lo <= value <= hi:
        raise UnsafeInput(f"{field} must be between {lo} and {hi}", field)
    return value


def depth_of(text: str | bytes, limit: int = MAX_DEPTH) -> int:
    """Bracket nesting of JSON ``text`` (strings skipped), stopping once past ``limit``."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")  # brackets and quotes are ASCII in every UTF encoding
    if "[" not in text and "{" not in text:
        return 0
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        if m.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def _int(text: str) -> int:
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise UnsafeInput("integer outside the 64-bit range")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeInput("number out of range")
    return value


def _constant(name: str) -> Any:
    raise UnsafeInput(f"{name} is not valid JSON")


def _check_strings(value: Any, path: str) -> None:
    if isinstance(value, str):
        check_text(value, path or "value")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"{path or 'object'} key")
            _check_strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _check_strings(item, f"{path}[{n}]")


def loads(data: str | bytes | bytearray, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON, refusing (``UnsafeInput``) what the product cannot store or handle."""
    if isinstance(data, bytearray):
        data = bytes(data)
    if depth_of(data, max_depth) > max_depth:
        raise UnsafeInput(f"JSON nested deeper than {max_depth} levels", code="invalid_json")
    try:
        value = json.loads(data, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except UnsafeInput:
        raise
    except RecursionError:  # the scan above makes this unreachable; kept as a guard
        raise UnsafeInput(f"JSON nested deeper than {max_depth} levels",
                          code="invalid_json") from None
    except (ValueError, TypeError):
        raise UnsafeInput("body is not valid JSON", code="invalid_json") from None
    _check_strings(value, "")
    return value
