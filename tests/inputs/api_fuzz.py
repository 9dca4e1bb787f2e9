"""Schemathesis over the app's own OpenAPI document (``/api/v1/openapi.json``), shared by
``tests/inputs/test_api_fuzz.py`` and ``bench/fuzz.py``.

Every operation gets positive and negative generated cases, with random path ids and the ids
of real rows (so the views past the 404 are reached), sent with a real session token through
the WSGI app; each response goes through schemathesis' ``not_a_server_error`` check.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from plugin.db import db
from plugin.security import Identity


@dataclass
class FuzzResult:
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    seconds: Counter[str] = field(default_factory=Counter)  # time spent per operation

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def seed_rows(app: Any, identity: Identity) -> dict[str, Any]:
    """A call with a turn and a nudge, and a practice session, of ``identity``'s tenant."""
    from plugin.models import Call, Nudge, Turn

    with app.app_context(), db.session_scope() as s:
        call = Call(tenant_id=identity.tenant_id, user_id=identity.user_id, source="panel",
                    status="ended", title="fuzz call", started_at=datetime.now(UTC))
        s.add(call)
        s.flush()
        s.add(Turn(tenant_id=identity.tenant_id, call_id=call.id, seq=0, speaker="rep",
                   text="Hello, what budget did you plan?", start_ms=0, end_ms=900))
        nudge = Nudge(tenant_id=identity.tenant_id, call_id=call.id, turn_seq=0,
                      category="question", severity="info", text="Ask about budget",
                      rule="fuzz")
        s.add(nudge)
        s.flush()
        ids: dict[str, Any] = {"call_id": call.id, "nudge_id": nudge.id}
    token = app.extensions["salescoach.signer"].issue(identity)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    scenario = client.get("/api/v1/practice/scenarios", headers=auth).get_json()["scenarios"][0]
    started = client.post("/api/v1/practice/sessions", json={"scenario_id": scenario["id"]},
                          headers=auth)
    assert started.status_code == 201, started.get_data(as_text=True)
    ids["scenario_id"] = scenario["id"]
    ids["session_id"] = started.get_json()["id"]
    return ids


def fuzz(app: Any, token: str, examples: int, real_ids: dict[str, Any] | None = None,
         seed: int | None = None) -> FuzzResult:
    """Send about ``examples`` generated cases per operation; count statuses and 5xx."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    result = FuzzResult()
    real_ids = real_ids or {}
    for entry in schema.get_all_operations():
        operation = entry.ok()
        names = {p.name for p in operation.path_parameters}
        has_inputs = bool(len(operation.path_parameters) or len(operation.query)
                           or len(operation.headers) or len(operation.body))
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_inputs else [])
        strategies = [operation.as_strategy(mode) for mode in modes]
        fixed = {k: v for k, v in real_ids.items() if k in names}
        if fixed and len(fixed) == len(names):
            strategies += [operation.as_strategy(mode, path_parameters=fixed) for mode in modes]
        per = max(1, examples // len(strategies))
        began = time.perf_counter()
        for strategy in strategies:
            _run(strategy, per, headers, result, seed)
        result.seconds[operation.label] += time.perf_counter() - began
    return result


def _run(strategy: Any, examples: int, headers: dict[str, str], result: FuzzResult,
         seed: int | None) -> None:
    @hypothesis.settings(max_examples=examples, deadline=None, database=None,
                         phases=[Phase.generate], derandomize=seed is not None,
                         suppress_health_check=list(HealthCheck))
    @hypothesis.given(case=strategy)
    def one(case: Any) -> None:
        response = case.call(headers=headers)
        result.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except (AssertionError, BaseExceptionGroup) as exc:  # the check failed: collected
            result.server_errors.append(f"{case.method} {case.formatted_path} "
                                        f"{response.status_code}: {str(exc)[:300]}")

    # Unsatisfiable: e.g. no negative case exists for an operation without inputs
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        one()


