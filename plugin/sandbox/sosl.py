"""The small SOSL subset the record picker emits, parsed and run over sandbox records.

``FIND {term} [IN ALL|NAME|EMAIL|PHONE FIELDS] [RETURNING Obj[(f, Rel.f [WHERE …]
[ORDER BY …] [LIMIT n])], …] [LIMIT n]``. As in Salesforce, the term's words must all match
(a trailing ``*`` matches a prefix), reserved characters are escaped with a backslash, and
the answer is ``{"searchRecords": [...]}`` with each record's ``attributes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from plugin.sandbox.soql import Query, SoqlError, parse

SEARCHABLE = ("Contact", "Lead", "Account", "Opportunity")
# Fields each scope searches, per object (Salesforce's search groups, reduced).
SCOPES: dict[str, dict[str, tuple[str, ...]]] = {
    "NAME": {"Contact": ("Name",), "Lead": ("Name", "Company"), "Account": ("Name",),
             "Opportunity": ("Name",)},
    "EMAIL": {"Contact": ("Email",), "Lead": ("Email",), "Account": (), "Opportunity": ()},
    "PHONE": {"Contact": ("Phone",), "Lead": ("Phone",), "Account": (), "Opportunity": ()},
    "ALL": {"Contact": ("Name", "Email", "Phone", "Title"),
            "Lead": ("Name", "Company", "Email", "Phone", "Title"),
            "Account": ("Name", "Website", "BillingCity", "Industry"),
            "Opportunity": ("Name", "StageName")},
}
RESERVED = set("?&|!{}[]()^~*:\\\"'+-")
_HEAD = re.compile(r"^\s*FIND\s+\{((?:[^{}\\]|\\.)*)\}\s*", re.I | re.S)
_IN = re.compile(r"^IN\s+(ALL|NAME|EMAIL|PHONE|SIDEBAR)\s+FIELDS\s*", re.I)


@dataclass
class Returning:
    obj: str
    query: Query


@dataclass
class Search:
    words: list[tuple[str, bool]]  # (lower-case word, prefix match)
    scope: str = "ALL"
    returning: list[Returning] = field(default_factory=list)
    limit: int | None = None


def _words(term: str) -> list[tuple[str, bool]]:
    """Split the search term into words; unescaped reserved characters other than a
    trailing ``*`` are a malformed search, as in Salesforce."""
    out: list[tuple[str, bool]] = []
    for raw in term.split():
        word, prefix, i = "", False, 0
        while i < len(raw):
            ch = raw[i]
            if ch == "\\" and i + 1 < len(raw):
                word += raw[i + 1]
                i += 2
                continue
            if ch == "*" and i == len(raw) - 1:
                prefix = True
            elif ch == '"':
                pass  # phrase quotes: words are matched one by one here
            elif ch in RESERVED:
                raise SoqlError(f"line 1:{i + 1} no viable alternative at character '{ch}'",
                                "MALFORMED_SEARCH")
            else:
                word += ch
            i += 1
        if word:
            out.append((word.lower(), prefix))
    if sum(len(w) for w, _ in out) < 2:
        raise SoqlError("search term must be longer than one character", "MALFORMED_SEARCH")
    return out


def _split_returning(text: str) -> list[str]:
    """``A(x, y), B`` -> ``["A(x, y)", "B"]`` (commas inside parentheses stay)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def parse_search(text: str) -> Search:
    m = _HEAD.match(text or "")
    if not m:
        raise SoqlError("expected FIND {search term}", "MALFORMED_SEARCH")
    search = Search(words=_words(m.group(1)))
    rest = text[m.end():].strip()
    scope = _IN.match(rest)
    if scope:
        search.scope = "ALL" if scope.group(1).upper() == "SIDEBAR" else scope.group(1).upper()
        rest = rest[scope.end():].strip()
    tail = re.search(r"\s*\bLIMIT\s+(\d+)\s*$", rest, re.I)
    if tail and (not rest.upper().startswith("RETURNING") or rest[: tail.start()].count("(")
                 == rest[: tail.start()].count(")")):
        search.limit = int(tail.group(1))
        rest = rest[: tail.start()].strip()
    if rest:
        ret = re.match(r"^RETURNING\s+(.+)$", rest, re.I | re.S)
        if not ret:
            raise SoqlError(f"unexpected token: {rest[:20]!r}", "MALFORMED_SEARCH")
        for part in _split_returning(ret.group(1)):
            pm = re.match(r"^(\w+)\s*(?:\((.*)\))?$", part, re.S)
            if not pm:
                raise SoqlError(f"malformed RETURNING clause: {part!r}", "MALFORMED_SEARCH")
            obj, inner = pm.group(1), (pm.group(2) or "Id").strip()
            if obj not in SEARCHABLE:
                raise SoqlError(f"sObject type '{obj}' is not supported.", "INVALID_TYPE")
            cut = re.search(r"\s+(?:WHERE|ORDER\s+BY|LIMIT)\b", inner, re.I)
            fields = inner[: cut.start()] if cut else inner
            clauses = inner[cut.start():] if cut else ""
            search.returning.append(Returning(obj, parse(f"SELECT {fields} FROM {obj}{clauses}")))
    else:
        search.returning = [Returning(o, parse(f"SELECT Id FROM {o}")) for o in SEARCHABLE]
    return search


def matches(search: Search, obj: str, row: dict[str, Any]) -> bool:
    """Every word of the term is a word (or, with ``*``, a word prefix) of a searched field."""
    tokens: list[str] = []
    for name in SCOPES[search.scope].get(obj, ()):
        tokens += re.findall(r"[\w@.'+-]+", str(row.get(name) or "").lower())
    for word, prefix in search.words:
        if not any(t == word or (prefix and t.startswith(word))
                   or ("@" in t and word in t) for t in tokens):
            return False
    return True
