"""Practice sessions, persisted and tenant-scoped: the one place the API and CLI go through.

Every lookup is by (tenant, user): another tenant's or another rep's session answers 404.
Input is validated before anything is written, and a reply is stored together with the
buyer's new state in one transaction, so a rejected reply never loses what was stored.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plugin.models import Playbook as PlaybookRow
from plugin.models import PracticeDrill, PracticeReply, PracticeSession, Tenant, utcnow
from plugin.practice import authoring, buyer, dialogue
from plugin.practice.scenarios import Scenario, get_scenario, library
from plugin.practice.scorecard import build_progress, build_scorecard
from plugin.practice.scoring import Meaning, score_reply
from plugin.security import Identity
from plugin.tenancy import get_owned, visible, visible_filter
from plugin.web.errors import ApiError

MAX_HISTORY = 200


@lru_cache(maxsize=2)
def meaning(enabled: bool) -> Meaning:
    """The process-wide similarity helper (loads the embedder once)."""
    return Meaning(enabled)


@lru_cache(maxsize=32)
def _playbook_from_yaml(digest: str, text: str) -> Any:
    from plugin.coach import load_playbook

    return load_playbook(text)


def playbook_for(session: Session, tenant_id: str) -> Any:
    """The tenant's playbook, or the shipped default when it has none (or it is invalid)."""
    from plugin.coach import PlaybookError, default_playbook

    tenant = session.get(Tenant, tenant_id)
    if tenant is not None and tenant.playbook_id is not None:
        row = session.get(PlaybookRow, tenant.playbook_id)
        if row is not None and row.tenant_id == tenant_id and row.yaml_text:
            try:
                return _playbook_from_yaml(hashlib.sha256(row.yaml_text.encode()).hexdigest(),
                                           row.yaml_text)
            except PlaybookError:
                pass  # the admin page reports playbook errors; practice still works
    return default_playbook()


def require_scenario(scenario_id: Any) -> Scenario:
    if not isinstance(scenario_id, str) or not scenario_id.strip():
        raise ApiError(400, "invalid_request", "scenario_id must be a non-empty string",
                       field="scenario_id")
    scenario = get_scenario(scenario_id.strip())
    if scenario is None:
        raise ApiError(404, "not_found", f"scenario {scenario_id!r} not found",
                       available=sorted(library()))
    return scenario


def validate_reply(text: Any, max_chars: int, name: str = "text") -> str:
    """The reply text, stripped; a 400/413 ``ApiError`` naming what is wrong otherwise."""
    if not isinstance(text, str):
        raise ApiError(400, "invalid_request",
                       f"'{name}' must be a string, got {type(text).__name__}", field=name)
    text = text.replace("\x00", "").strip()
    if not text:
        raise ApiError(400, "empty_reply", f"'{name}' is empty; say something", field=name)
    if len(text) > max_chars:
        raise ApiError(413, "reply_too_long",
                       f"'{name}' has {len(text)} characters; the limit is {max_chars}",
                       field=name, limit=max_chars, length=len(text))
    if not any(ch.isalpha() for ch in text):
        raise ApiError(400, "not_text", f"'{name}' has no words in it", field=name)
    return text


def _stage_index(scenario: Scenario, stage_id: str) -> int:
    return next((i for i, o in enumerate(scenario.objections) if o.id == stage_id),
                len(scenario.objections))


_SNAPSHOTS: dict[str, Scenario] = {}


def scenario_of_state(scenario_id: str, state: dict[str, Any]) -> Scenario | None:
    """The scenario a session runs on: its snapshot (tenant or customer scenarios), else the
    shipped one."""
    snap = state.get("scenario") if isinstance(state, dict) else None
    if isinstance(snap, dict):
        key = hashlib.sha256(json.dumps(snap, sort_keys=True).encode()).hexdigest()
        hit = _SNAPSHOTS.get(key)
        if hit is None:
            hit = Scenario.model_validate(snap)
            if len(_SNAPSHOTS) > 256:
                _SNAPSHOTS.pop(next(iter(_SNAPSHOTS)))
            _SNAPSHOTS[key] = hit
        return hit
    return get_scenario(scenario_id)


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite hands back naive datetimes that were stored as UTC)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


class PracticeService:
    """Practice operations for one identity on one database session (caller commits)."""

    def __init__(self, session: Session, identity: Identity, *, max_reply_chars: int = 4000,
                 embeddings: bool = True, buyer_llm: Any = None) -> None:
        self.s = session
        self.who = identity
        self.max_reply_chars = max_reply_chars
        self.embeddings = embeddings
        self.buyer_llm = buyer_llm  # llm_buyer.GeminiBuyer, or None for the local buyer

    # Lookups --------------------------------------------------------------------------
    def _owned(self, session_id: str, lock: bool = False, *,
               read: bool = False) -> PracticeSession:
        """The session if it is the rep's own (``read``: or one the viewer may see, i.e. a
        manager's team member's or, for an admin, the tenant's), else 404."""
        if not isinstance(session_id, str) or len(session_id) > 64:
            raise ApiError(404, "not_found", "practice session not found")
        if read:
            row = visible(self.s, PracticeSession, session_id, self.who, "practice session")
        else:
            row = get_owned(self.s, PracticeSession, session_id, self.who.tenant_id,
                            "practice session")
            if row.user_id != self.who.user_id:
                raise ApiError(404, "not_found", "practice session not found")
        if lock:
            self.s.refresh(row, with_for_update=True)
        return row

    def _replies(self, row: PracticeSession) -> list[PracticeReply]:
        return list(self.s.scalars(
            select(PracticeReply).where(PracticeReply.session_id == row.id,
                                        PracticeReply.tenant_id == self.who.tenant_id)
            .order_by(PracticeReply.seq)))

    # Operations -----------------------------------------------------------------------
    def scenarios(self) -> list[dict[str, Any]]:
        own = authoring.tenant_scenarios(self.s, self.who.tenant_id)
        return [{**s.summary_dict(), "source": "tenant" if s.id in own else "library"}
                for s in authoring.available(self.s, self.who.tenant_id).values()]

    def scenario(self, scenario_id: Any) -> Scenario:
        """A scenario this tenant can practise (shipped or its own), or 404."""
        if not isinstance(scenario_id, str) or not scenario_id.strip():
            raise ApiError(400, "invalid_request", "scenario_id must be a non-empty string",
                           field="scenario_id")
        found = authoring.available(self.s, self.who.tenant_id)
        scenario = found.get(scenario_id.strip())
        if scenario is None:
            raise ApiError(404, "not_found", f"scenario {scenario_id!r} not found",
                           available=sorted(found))
        return scenario

    def start(self, scenario_id: Any, seed: Any = None) -> dict[str, Any]:
        return self._start(self.scenario(scenario_id), seed)

    def start_customer(self, context: Any, seed: Any = None) -> dict[str, Any]:
        """A session whose buyer is the customer of a CRM record (``customer_scenario``)."""
        from plugin.practice.customer import customer_scenario

        return self._start(customer_scenario(context), seed, customer=True)

    def _start(self, scenario: Scenario, seed: Any, customer: bool = False) -> dict[str, Any]:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                                 or not 0 <= seed < 2**31):
            raise ApiError(400, "invalid_request", "seed must be an integer in 0..2^31-1",
                           field="seed")
        row = PracticeSession(tenant_id=self.who.tenant_id, user_id=self.who.user_id,
                              scenario_id=scenario.id, status="active", scorecard={})
        self.s.add(row)
        self.s.flush()
        state = buyer.initial_state(
            scenario, seed if seed is not None else zlib.crc32(row.id.encode()) % 1000)
        if scenario.id not in library():
            # tenant-authored or customer scenarios: the session keeps what it was started on
            state["scenario"] = scenario.model_dump()
        state["customer"] = customer
        row.state = state
        self.s.flush()
        return self.view(row)

    def get(self, session_id: str) -> dict[str, Any]:
        return self.view(self._owned(session_id, read=True))

    def check_own(self, session_id: str) -> None:
        """404 unless the session is the rep's own (before costly work on a reply)."""
        self._owned(session_id)

    def reply(self, session_id: str, text: Any, source: str = "text",
              voiced: bool = True) -> dict[str, Any]:
        """Score the reply, let the buyer answer, store both; finish if the buyer ended.

        With a ``buyer_llm`` the buyer's line is voiced by it (local line on any failure);
        ``voiced=False`` stores the local line and leaves voicing to ``revoice`` (streaming).
        """
        text = validate_reply(text, self.max_reply_chars)
        row = self._owned(session_id, lock=True)
        if row.status != "active":
            raise ApiError(409, "session_finished",
                           "this practice session is finished; start a new one",
                           session_id=row.id)
        scenario = self._scenario_of(row)
        state = dict(row.state)
        stage = buyer.current_stage(scenario, state)
        feedback = score_reply(text, scenario, stage, state["line"], set(state["covered"]),
                               playbook_for(self.s, self.who.tenant_id),
                               meaning(self.embeddings))
        new_state = buyer.respond(scenario, state, feedback.quality, feedback.covered,
                                  feedback.risky, feedback.overall,
                                  reading=dialogue.read_reply(text, feedback))
        scores_patience = state.get("patience")
        seq = len(self._replies(row)) + 1
        scores = feedback.to_dict()
        scores.pop("improved")
        scores["source"] = source
        scores["buyer_engine"] = "local"
        scores["patience_before"] = scores_patience
        if voiced and self.buyer_llm is not None:
            engine, line = self.voice_line(scenario, state, new_state)
            new_state["line"] = line
            scores["buyer_engine"] = engine
        reply = PracticeReply(tenant_id=self.who.tenant_id, session_id=row.id, seq=seq,
                              buyer_text=state["line"], objection=stage.id, reply_text=text,
                              scores=scores, improved=feedback.improved,
                              buyer_response=new_state["line"])
        self.s.add(reply)
        row.state = new_state
        try:
            self.s.flush()
        except IntegrityError:
            self.s.rollback()
            raise ApiError(409, "conflict", "another reply was stored at the same time; "
                           "reload the session and try again") from None
        if new_state["ended"]:
            self._finish(row, scenario, new_state)
            self.s.flush()
        return {"reply": self._reply_view(reply), "buyer": self._buyer_view(row),
                "session": self.view(row)}

    def voice_line(self, scenario: Scenario, before: dict[str, Any],
                   after: dict[str, Any]) -> tuple[str, str]:
        from plugin.practice.llm_buyer import voice

        pieces = list(voice(self.buyer_llm, scenario, before, after))
        return pieces[0][0], "".join(p for _, p in pieces).strip()

    def stream_voice(self, session_id: str) -> Any:
        """The last buyer line voiced again by the LLM buyer, as (engine, piece) pairs; the
        stored line follows what was streamed (call ``commit`` on the db session after)."""
        from plugin.practice.llm_buyer import voice

        if self.buyer_llm is None:  # nothing to voice: take no row lock
            return
        row = self._owned(session_id, lock=True)
        replies = self._replies(row)
        if not replies:
            return
        last = replies[-1]
        scenario = self._scenario_of(row)
        before = {**row.state, "stage": _stage_index(scenario, last.objection),
                  "patience": last.scores.get("patience_before", row.state.get("patience"))}
        engine, text = "local", ""
        for engine, piece in voice(self.buyer_llm, scenario, before, dict(row.state)):
            text += piece
            yield engine, piece
        if engine != "local" and text.strip():
            state = dict(row.state)
            state["line"] = text.strip()
            row.state = state
            last.buyer_response = text.strip()
            last.scores = {**last.scores, "buyer_engine": engine}
            self.s.flush()

    def finish(self, session_id: str) -> dict[str, Any]:
        """End the session (idempotent: a finished session returns its scorecard)."""
        row = self._owned(session_id, lock=True)
        if row.status == "active":
            scenario = self._scenario_of(row)
            self._finish(row, scenario, buyer.finish(row.state))
            self.s.flush()
        return self.view(row)

    def _finish(self, row: PracticeSession, scenario: Scenario, state: dict[str, Any]) -> None:
        state = buyer.finish(state)
        replies = [{"objection": r.objection, "scores": r.scores} for r in self._replies(row)]
        row.state = state
        row.status = "finished"
        row.finished_at = utcnow()
        row.scorecard = build_scorecard(scenario, state, replies)

    # Drills -----------------------------------------------------------------------------
    def drill(self, customer_line: Any, text: Any, scenario_id: Any = None,
              previous_id: Any = None, source: str = "text") -> dict[str, Any]:
        """Score one free-form answer to a customer line; with ``previous_id`` (an earlier
        attempt of this rep) the answer also says what changed."""
        from plugin.practice.drill import change, score_drill

        line = validate_reply(customer_line, min(self.max_reply_chars, 2000), "customer_line")
        text = validate_reply(text, self.max_reply_chars)
        scenario = self.scenario(scenario_id) if scenario_id not in (None, "") else None
        previous = None
        if previous_id is not None:
            if (isinstance(previous_id, bool) or not isinstance(previous_id, int)
                    or not 0 < previous_id < 2**31):
                raise ApiError(400, "invalid_request", "previous_id must be an integer",
                               field="previous_id")
            previous = self.s.get(PracticeDrill, previous_id)
            if previous is None or previous.tenant_id != self.who.tenant_id \
                    or previous.user_id != self.who.user_id:
                raise ApiError(404, "not_found", "previous drill attempt not found",
                               field="previous_id")
        pb = playbook_for(self.s, self.who.tenant_id)
        fb, scenario, stage, kind = score_drill(line, text, pb, meaning(self.embeddings),
                                                scenario)
        scores = fb.to_dict()
        scores.pop("improved")
        scores.update(source=source, stage=stage.id, objection_type=kind)
        row = PracticeDrill(tenant_id=self.who.tenant_id, user_id=self.who.user_id,
                            customer_line=line, reply_text=text, scenario_id=scenario.id,
                            previous_id=previous.id if previous else None, source=source,
                            scores=scores, improved=fb.improved)
        self.s.add(row)
        self.s.flush()
        out = self._drill_view(row, scenario)
        out["change"] = change(previous.scores if previous else None, scores)
        return out

    def drills(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.s.scalars(select(PracticeDrill).where(
            PracticeDrill.tenant_id == self.who.tenant_id,
            PracticeDrill.user_id == self.who.user_id).order_by(PracticeDrill.id.desc())
            .limit(max(1, min(limit, MAX_HISTORY))))
        return [self._drill_view(r, None) for r in rows]

    def drill_lines(self, context: Any, record_id: str = "") -> list[dict[str, str]]:
        """Customer lines to drill on: what this customer raised in the CRM history, then what
        customers said on this tenant's calls with the record (newest first)."""
        from plugin.models import Call, Turn
        from plugin.practice.customer import raised

        out = [{"text": r["text"], "topic": r["topic"], "source": "crm", "date": r["date"]}
               for r in (raised(context) if context is not None else [])]
        if record_id:
            calls = list(self.s.scalars(select(Call).where(
                visible_filter(self.s, Call, self.who), Call.record_id == record_id)
                .order_by(Call.created_at.desc()).limit(5)))
            for call in calls:
                for t in self.s.scalars(select(Turn).where(
                        Turn.call_id == call.id, Turn.tenant_id == self.who.tenant_id,
                        Turn.speaker == "customer").order_by(Turn.seq)):
                    if len(t.text.split()) >= 5:
                        out.append({"text": t.text[:300], "topic": "call", "source": "call",
                                    "date": _iso(call.created_at) or ""})
        seen: set[str] = set()
        return [o for o in out if not (o["text"] in seen or seen.add(o["text"]))][:20]  # type: ignore[func-returns-value]

    def _drill_view(self, r: PracticeDrill, scenario: Scenario | None) -> dict[str, Any]:
        sc = r.scores
        scenario = scenario or get_scenario(r.scenario_id)
        return {"id": r.id, "customer_line": r.customer_line, "text": r.reply_text,
                "scenario_id": r.scenario_id, "stage": sc.get("stage"),
                "objection_type": sc.get("objection_type"), "source": r.source,
                "previous_id": r.previous_id, "created_at": _iso(r.created_at),
                "tone": sc["tone"], "content": sc["content"], "strategy": sc["strategy"],
                "overall": sc["overall"], "quality": sc["quality"], "covered": sc["covered"],
                "missing": sc["missing"], "flaws": sc.get("flaws", []), "improved": r.improved,
                "brief": scenario.brief() if scenario else None}

    def history(self, scenario_id: str | None = None, limit: int = 50) -> dict[str, Any]:
        """The rep's sessions, newest first, plus progress over the finished ones."""
        limit = max(1, min(int(limit), MAX_HISTORY))
        q = select(PracticeSession).where(PracticeSession.tenant_id == self.who.tenant_id,
                                          PracticeSession.user_id == self.who.user_id)
        if scenario_id:
            self.scenario(scenario_id)
            q = q.where(PracticeSession.scenario_id == scenario_id)
        rows = list(self.s.scalars(q.order_by(PracticeSession.created_at.desc()).limit(limit)))
        finished = sorted((r for r in rows if r.status == "finished"),
                          key=lambda r: (r.finished_at or r.created_at))
        series = [self._summary(r) for r in finished]
        return {"items": [self._summary(r) for r in rows], "progress": build_progress(series)}

    # Views ----------------------------------------------------------------------------
    def _scenario_of(self, row: PracticeSession) -> Scenario:
        scenario = scenario_of_state(row.scenario_id, row.state)
        if scenario is None:
            raise ApiError(410, "scenario_removed",
                           f"scenario {row.scenario_id!r} is no longer in the library")
        return scenario

    def _summary(self, row: PracticeSession) -> dict[str, Any]:
        scenario = scenario_of_state(row.scenario_id, row.state)
        card = row.scorecard or {}
        return {"id": row.id, "scenario_id": row.scenario_id,
                "title": scenario.title if scenario else row.scenario_id, "status": row.status,
                "created_at": _iso(row.created_at), "finished_at": _iso(row.finished_at),
                "overall": card.get("overall"), "averages": card.get("averages", {}),
                "outcome": card.get("outcome", row.state.get("outcome", ""))}

    def _buyer_view(self, row: PracticeSession) -> dict[str, Any]:
        st = row.state
        scenario = scenario_of_state(row.scenario_id, st)
        stage = buyer.current_stage(scenario, st) if scenario and not st.get("ended") else None
        return {"text": st["line"], "ended": bool(st.get("ended")),
                "outcome": st.get("outcome", ""),
                "patience": st.get("patience"), "objection": stage.id if stage else None,
                "objection_type": stage.type if stage else None}

    @staticmethod
    def _reply_view(r: PracticeReply) -> dict[str, Any]:
        sc = r.scores
        return {"seq": r.seq, "buyer_text": r.buyer_text, "objection": r.objection,
                "text": r.reply_text, "source": sc.get("source", "text"),
                "tone": sc["tone"], "content": sc["content"], "strategy": sc["strategy"],
                "overall": sc["overall"], "quality": sc["quality"], "covered": sc["covered"],
                "missing": sc["missing"], "flaws": sc.get("flaws", []), "improved": r.improved,
                "buyer_response": r.buyer_response,
                "buyer_engine": sc.get("buyer_engine", "local")}

    def view(self, row: PracticeSession) -> dict[str, Any]:
        scenario = scenario_of_state(row.scenario_id, row.state)
        return {**self._summary(row),
                "scenario": scenario.summary_dict() if scenario else None,
                "customer": bool(row.state.get("customer")),
                "buyer": self._buyer_view(row),
                "replies": [self._reply_view(r) for r in self._replies(row)],
                "scorecard": row.scorecard or None}
