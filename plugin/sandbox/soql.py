"""The small SOQL subset the adapters emit, parsed and run over sandbox records.

``SELECT a, b, Rel.c FROM Obj [WHERE x = 'v' AND y IN ('a','b') AND z = false]
[ORDER BY f [ASC|DESC] [NULLS FIRST|LAST]] [LIMIT n]``
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class SoqlError(ValueError):
    def __init__(self, message: str, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Condition:
    field: str
    op: str
    value: Any


@dataclass
class Query:
    fields: list[str]
    obj: str
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # field, desc, nulls_last
    limit: int | None = None


_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][\w.]*|-?\d+(?:\.\d+)?(?:-\d\d-\d\d)?)
)""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SoqlError(f"unexpected token at column {pos + 1}: {text[pos:pos + 15]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _literal(kind: str, tok: str) -> Any:
    if kind == "str":
        return re.sub(r"\\(.)", r"\1", tok[1:-1])
    low = tok.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    if re.fullmatch(r"\d{4}-\d\d-\d\d", tok):
        return tok
    try:
        return int(tok)
    except ValueError:
        try:
            return float(tok)
        except ValueError:
            raise SoqlError(f"unexpected value {tok!r}") from None


def parse(text: str) -> Query:
    toks = _tokens(text)
    i = 0

    def peek(n: int = 0) -> tuple[str, str]:
        return toks[i + n] if i + n < len(toks) else ("", "")

    def expect_word(word: str) -> None:
        nonlocal i
        if peek()[1].upper() != word:
            raise SoqlError(f"expected {word} but found {peek()[1] or 'end of query'!r}")
        i += 1

    expect_word("SELECT")
    fields: list[str] = []
    while True:
        kind, tok = peek()
        if kind != "word":
            raise SoqlError(f"expected a field name but found {tok or 'end of query'!r}")
        fields.append(tok)
        i += 1
        if peek()[1] != ",":
            break
        i += 1
    expect_word("FROM")
    kind, obj = peek()
    if kind != "word":
        raise SoqlError("expected an object name after FROM")
    i += 1
    q = Query(fields=fields, obj=obj)
    if peek()[1].upper() == "WHERE":
        i += 1
        while True:
            kind, name = peek()
            if kind != "word":
                raise SoqlError(f"expected a field in WHERE but found {name!r}")
            i += 1
            kind, op = peek()
            if op.upper() in ("IN", "LIKE"):
                op = op.upper()
            elif kind != "op":
                raise SoqlError(f"expected an operator after {name} but found {op!r}")
            i += 1
            if op == "IN":
                if peek()[1] != "(":
                    raise SoqlError("expected ( after IN")
                i += 1
                values: list[Any] = []
                while peek()[1] != ")":
                    vk, vt = peek()
                    if not vt:
                        raise SoqlError("unterminated IN list")
                    if vt != ",":
                        values.append(_literal(vk, vt))
                    i += 1
                i += 1
                q.where.append(Condition(name, "IN", values))
            else:
                vk, vt = peek()
                if not vt:
                    raise SoqlError(f"expected a value after {name} {op}")
                q.where.append(Condition(name, "!=" if op == "<>" else op, _literal(vk, vt)))
                i += 1
            if peek()[1].upper() == "AND":
                i += 1
                continue
            if peek()[1].upper() == "OR":
                raise SoqlError("OR is not supported by the sandbox")
            break
    if peek()[1].upper() == "ORDER":
        i += 1
        expect_word("BY")
        while True:
            kind, name = peek()
            if kind != "word":
                raise SoqlError("expected a field after ORDER BY")
            i += 1
            desc = False
            nulls_last = False
            if peek()[1].upper() in ("ASC", "DESC"):
                desc = peek()[1].upper() == "DESC"
                nulls_last = desc
                i += 1
            if peek()[1].upper() == "NULLS":
                i += 1
                nulls_last = peek()[1].upper() == "LAST"
                i += 1
            q.order.append((name, desc, nulls_last))
            if peek()[1] != ",":
                break
            i += 1
    if peek()[1].upper() == "LIMIT":
        i += 1
        kind, tok = peek()
        if not tok.isdigit():
            raise SoqlError("LIMIT needs a non-negative integer")
        q.limit = int(tok)
        i += 1
    if i < len(toks):
        raise SoqlError(f"unexpected token {toks[i][1]!r}")
    return q


def _matches(value: Any, cond: Condition) -> bool:
    target = cond.value
    if cond.op == "IN":
        return value in target
    if cond.op == "LIKE":
        pattern = "^" + re.escape(str(target)).replace("%", ".*").replace("_", ".") + "$"
        return value is not None and re.match(pattern, str(value), re.I) is not None
    if cond.op == "=":
        return bool(value == target or (isinstance(value, str) and isinstance(target, str)
                                        and value.lower() == target.lower()))
    if cond.op == "!=":
        return bool(value != target)
    if value is None or target is None:
        return False
    try:
        return bool({"<": value < target, ">": value > target, "<=": value <= target,
                     ">=": value >= target}[cond.op])
    except TypeError:
        return False


def run(q: Query, rows: list[dict[str, Any]], resolve: Any) -> list[dict[str, Any]]:
    """Filter/sort/limit ``rows`` (flat dicts); ``resolve(row, dotted)`` reads a field."""
    out = [r for r in rows if all(_matches(resolve(r, c.field), c) for c in q.where)]
    for name, desc, nulls_last in reversed(q.order):
        present = [r for r in out if resolve(r, name) is not None]
        missing = [r for r in out if resolve(r, name) is None]
        present.sort(key=lambda r, n=name: resolve(r, n), reverse=desc)  # type: ignore[misc]
        out = present + missing if nulls_last else missing + present
    if q.limit is not None:
        out = out[: q.limit]
    return out
