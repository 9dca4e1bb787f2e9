"""The customer as the panel shows them: who they are, open deals and a de-duplicated
summary of their real CRM history (what they raised and when, who decides, dates that
matter), plus the record picker's search.

Built from ``CrmAdapter.customer_context`` (which already leaves out the activities Sales
Coach wrote itself), so the panel, the widgets and the coach read the same history.
"""

from __future__ import annotations

import calendar
import logging
import re
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from plugin.coach.types import CustomerContext
from plugin.crm.highlights import (
    _SENTENCE,
    _clip,
    _norm,
    highlight_items,
    is_own_activity,
    strip_html,
)
from plugin.providers.errors import ProviderError, ProviderInputError
from plugin.settings import Settings

log = logging.getLogger(__name__)

SEARCH_MIN_CHARS = 2
SEARCH_MAX_CHARS = 100
HISTORY_ITEMS = 10
DECIDER_TITLE = re.compile(r"\b(Chief|C[EFOT]O|VP|Vice President|President|Owner|Founder|"
                           r"Head of|Director)\b")
# "sign-off from Tom Becker (CFO)", "the budget owner is the VP Sales", "approved by Ann Lee"
_NAME_ROLE = re.compile(r"\b([A-Z][a-z]+(?: [A-Z][\w'’-]+)+)\s*\(([^)]{2,40})\)")
_DECIDER_PHRASE = re.compile(
    r"\b(?:sign[- ]off from|approved by|approval from|decision[- ]maker is|decided by|"
    r"budget owner is|signs? off(?: is)?)\s+((?:the\s+)?(?:[A-Z][\w'’&-]*\s?){1,4})")
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}
_WHEN = re.compile(
    r"\b(?:(?:by|before|on|in|until|from)\s+)?(?:the\s+)?(?P<phrase>"
    r"end of (?:the )?(?P<eo>quarter|year|month|Q[1-4])|(?P<q>Q[1-4])|"
    r"(?P<month>January|February|March|April|May|June|July|August|September|October|"
    r"November|December)(?:\s+(?P<mday>\d{1,2})(?:st|nd|rd|th)?)?|"
    r"next (?P<next>week|month|quarter)|(?P<wday>Monday|Tuesday|Wednesday|Thursday|Friday))"
    r"\b", re.I)


def resolve_when(match: re.Match[str], said_on: date) -> date | None:
    """The calendar date a time phrase said on ``said_on`` points at (the next such date):
    'Q1' / 'end of Q1' → last day of that quarter, 'January' → 1 Jan, 'by Friday' → that
    Friday, 'end of quarter' → the quarter's last day, 'next month' → its first day."""
    g = {k: (v or "").lower() for k, v in match.groupdict().items()}
    y = said_on.year

    def quarter_end(q: int, year: int) -> date:
        month = q * 3
        return date(year, month, calendar.monthrange(year, month)[1])

    quarter = g["q"] or (g["eo"] if g["eo"].startswith("q") else "")
    if quarter:
        end = quarter_end(int(quarter[1]), y)
        return end if end >= said_on else quarter_end(int(quarter[1]), y + 1)
    if g["eo"] == "quarter":
        return quarter_end((said_on.month - 1) // 3 + 1, y)
    if g["eo"] == "year":
        return date(y, 12, 31)
    if g["eo"] == "month":
        return date(y, said_on.month, calendar.monthrange(y, said_on.month)[1])
    if g["month"]:
        month = _MONTHS[g["month"]]
        day = int(g["mday"]) if g["mday"] else 1
        try:
            d = date(y, month, day)
            return d if d >= said_on else date(y + 1, month, day)
        except ValueError:
            return None
    if g["next"] == "week":
        return said_on + timedelta(days=7 - said_on.weekday())
    if g["next"] == "month":
        return date(y + (said_on.month == 12), said_on.month % 12 + 1, 1)
    if g["next"] == "quarter":
        q = (said_on.month - 1) // 3 + 1
        return date(y + 1, 1, 1) if q == 4 else date(y, q * 3 + 1, 1)
    if g["wday"]:
        ahead = (_WEEKDAYS[g["wday"]] - said_on.weekday()) % 7 or 7
        return said_on + timedelta(days=ahead)
    return None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value or "")[:10])
    except ValueError:
        return None


def _real(activities: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in activities if not is_own_activity(a)]


def history_items(ctx: CustomerContext, limit: int = HISTORY_ITEMS) -> list[dict[str, Any]]:
    """``[{"date", "kind", "summary"}]`` newest first: each real activity once (the same
    note logged twice shows once), summarised as its subject and first sentences."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for act in _real(ctx.activities):
        notes = strip_html(str(act.get("notes") or ""))
        subject = str(act.get("subject") or "").strip()
        first = " ".join(_SENTENCE.split(notes)[:2]) if notes else ""
        summary = _clip(f"{subject}: {first}" if subject and first else subject or first, 220)
        key = _norm(notes or subject)
        if not summary or key in seen:
            continue
        seen.add(key)
        out.append({"date": str(act.get("date") or "")[:10], "kind": str(act.get("kind") or ""),
                    "summary": summary})
    return out[:limit]


def decision_makers(ctx: CustomerContext) -> list[str]:
    """Who decides, from the record's own title and what the history says ("sign-off from
    Tom Becker (CFO)", "the budget owner is the VP Sales"); each person once."""
    found: list[str] = []
    keys: set[str] = set()

    def add(name: str, key: str) -> None:
        if key and key not in keys:
            keys.add(key)
            found.append(name)

    title = str(ctx.person.get("title") or "")
    if ctx.person.get("name") and DECIDER_TITLE.search(title):
        add(f"{ctx.person['name']} ({title})", _norm(str(ctx.person["name"])))
    for act in _real(ctx.activities):
        notes = strip_html(str(act.get("notes") or ""))
        for sentence in _SENTENCE.split(notes):
            named = {_norm(m.group(1)) for m in _NAME_ROLE.finditer(sentence)}
            for m in _NAME_ROLE.finditer(sentence):
                if DECIDER_TITLE.search(m.group(2)) or _DECIDER_PHRASE.search(sentence):
                    add(f"{m.group(1)} ({m.group(2).strip()})", _norm(m.group(1)))
            for m in _DECIDER_PHRASE.finditer(sentence):
                who = re.sub(r"^the\s+", "", m.group(1).strip()).strip()
                if who and not any(_norm(who) in n or n in _norm(who) for n in named):
                    add(who, _norm(who))
    return found


def key_dates(ctx: CustomerContext, today: date | None = None) -> list[dict[str, Any]]:
    """``[{"date", "what"}]`` soonest first: open deals' close dates and the dates the
    history names ("a decision before the end of Q1", "pilot to start in January"),
    resolved from the day they were said; past dates are left out, each date+what once."""
    today = today or date.today()
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for deal in ctx.deals:
        d = _day(deal.get("close_date"))
        if d is not None and d >= today:
            what = f"{deal.get('name') or 'Deal'} closes"
            seen.add((d.isoformat(), _norm(what)))
            out.append({"date": d.isoformat(), "what": what})
    for act in _real(ctx.activities):
        said = _day(act.get("date"))
        if said is None:
            continue
        for sentence in _SENTENCE.split(strip_html(str(act.get("notes") or ""))):
            for m in _WHEN.finditer(sentence):
                d = resolve_when(m, said)
                if d is None or d < today:
                    continue
                what = f"{_clip(sentence, 140)} (said {said.day} {said.strftime('%b')})"
                key = (d.isoformat(), _norm(_clip(sentence, 140)))
                if key in seen:
                    continue
                seen.add(key)
                out.append({"date": d.isoformat(), "what": what})
                break
    out.sort(key=lambda x: x["date"])
    return out[:10]


def customer_summary(ctx: CustomerContext, today: date | None = None) -> dict[str, Any]:
    """Record, open deals and the history summary of one CRM record (the panel's JSON)."""
    deals = [{"name": str(d.get("name") or ""), "stage": str(d.get("stage") or ""),
              "amount": d.get("amount"), "close_date": str(d.get("close_date") or "")[:10]}
             for d in ctx.deals]
    highlights = [{"topic": i["topic"], "text": i["text"], "date": i["date"]}
                  for i in highlight_items(list(_real(ctx.activities)), [], limit=12)]
    return {
        "record": {"id": ctx.record_id, "type": ctx.record_type,
                   "name": str(ctx.person.get("name") or ctx.company.get("name") or ""),
                   "company": str(ctx.company.get("name") or ""),
                   "title": str(ctx.person.get("title") or ""),
                   "email": str(ctx.person.get("email") or "")},
        "deals": deals,
        "history": history_items(ctx),
        "highlights": highlights,
        "decision_makers": decision_makers(ctx),
        "key_dates": key_dates(ctx, today),
    }


def empty_view(record_id: str, record_type: str, connected: bool,
               warning: str = "") -> dict[str, Any]:
    view: dict[str, Any] = {
        "record": {"id": record_id, "type": record_type, "name": "", "company": "",
                   "title": "", "email": ""},
        "deals": [], "history": [], "highlights": [], "decision_makers": [], "key_dates": [],
        "connected": connected}
    if warning:
        view["warning"] = warning
    return view


class RecordNotFound(LookupError):
    """The tenant's CRM has no such record (or the tenant cannot see it)."""


def customer_view(session: Session, tenant_id: str, record_id: str, record_type: str,
                  settings: Settings) -> dict[str, Any]:
    """The panel's customer JSON. Not connected → ``connected: false`` and empty lists; the
    CRM unreachable → the same with ``warning``; an unknown record → ``RecordNotFound``;
    a malformed id → ``ProviderInputError``."""
    from plugin.crm.factory import adapter_for, interactive

    adapter = adapter_for(session, tenant_id, settings, record_id=record_id)
    if adapter is None:
        return empty_view(record_id, record_type, connected=False)
    interactive(adapter)  # the panel is waiting
    try:
        ctx = adapter.customer_context(record_id, record_type)
    except ProviderInputError as exc:
        if exc.status in (403, 404):
            raise RecordNotFound(record_id) from exc
        raise
    except ProviderError as exc:
        log.info("customer view: CRM read failed for %s/%s: %s", tenant_id, record_id, exc)
        return empty_view(record_id, record_type, connected=True, warning=exc.message)
    return {**customer_summary(ctx), "connected": True}


def search_records(session: Session, tenant_id: str, text: str, settings: Settings,
                   limit: int = 20) -> dict[str, Any]:
    """The record picker: ``{"records": [{"id", "type", "name", "company"}], "connected"}``
    (``warning`` when the CRM could not be searched)."""
    from plugin.crm.factory import adapter_for, interactive

    adapter = adapter_for(session, tenant_id, settings)
    if adapter is None:
        return {"records": [], "connected": False}
    interactive(adapter)
    try:
        return {"records": adapter.search_records(text, limit), "connected": True}
    except ProviderInputError:
        raise
    except ProviderError as exc:
        log.info("record search failed for %s: %s", tenant_id, exc)
        return {"records": [], "connected": True, "warning": exc.message}
