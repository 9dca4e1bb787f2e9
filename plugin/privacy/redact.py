"""PII redaction applied to every text before it leaves for a cloud model.

Pure and deterministic: emails, phone numbers, payment cards (Luhn-checked), US social
security numbers, IBANs, IP addresses and the names the CRM gave us are replaced by
bracketed tags, so the model still sees the shape of the conversation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
# Phone: optional +country, groups of digits separated by space, dot, dash or parentheses;
# at least 7 digits overall so prices and years are left alone.
_PHONE = re.compile(r"(?<![\w$€£])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?"
                    r"\d{2,4}(?:[\s.-]\d{2,4}){1,4}\b")


def _luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[PHONE]" if len(digits) >= 7 else match.group(0)


def redact(text: str, names: Iterable[str] = ()) -> str:
    """Return ``text`` with personal data replaced by ``[EMAIL]``, ``[PHONE]``, ``[NAME]``…

    ``names``: people's names known from the CRM (each full name and its parts of three or
    more letters are redacted as whole words, case-insensitively).
    """
    out = _EMAIL.sub("[EMAIL]", text)
    out = _SSN.sub("[SSN]", out)
    out = _IBAN.sub("[IBAN]", out)
    out = _CARD.sub(_card, out)
    out = _IPV4.sub("[IP]", out)
    out = _PHONE.sub(_phone, out)
    parts: set[str] = set()
    for name in names:
        name = name.strip()
        if not name:
            continue
        parts.add(name)
        parts.update(p for p in re.split(r"\s+", name) if len(p) >= 3)
    for part in sorted(parts, key=len, reverse=True):
        out = re.sub(rf"\b{re.escape(part)}\b", "[NAME]", out, flags=re.IGNORECASE)
    return out
