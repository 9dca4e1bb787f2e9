"""The deep tier through the real google-genai SDK against a local Gemini-protocol server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from plugin.coach import default_playbook
from plugin.coach.types import CustomerContext, Turn
from plugin.devservers import gemini as gemini_server
from plugin.llm import FallbackModel, LocalModel, deep_request, get_llm
from plugin.llm.gemini import GeminiModel
from plugin.providers.errors import ProviderError
from plugin.settings import load_settings

KEY = "test-key"

CALL = [
    Turn(1, "rep", "Thanks for taking the time today. What made you look at Beacon?", 0, 4000),
    Turn(2, "customer", "Honestly it looks good, but the price is way above our budget. "
                        "You can reach me at priya.nair@northwind.example or 415-555-0134.",
         4500, 11000),
    Turn(3, "rep", "We give a discount to everyone, so that's fine.", 11300, 14000),
]
CONTEXT = CustomerContext(crm="salesforce", record_id="003X", person={"name": "Priya Nair"},
                          company={"name": "Northwind"},
                          highlights=("Priya Nair raised budget on the 3 Nov call",))


def gemini(url: str, key: str = KEY) -> GeminiModel:
    return GeminiModel(key, base_url=url, timeout_s=60)


@pytest.fixture
def server() -> Iterator[tuple[Any, str]]:
    app, srv = gemini_server.start(KEY)
    yield app, f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def test_gemini_advice_is_parsed_into_the_schema(server: tuple[Any, str]) -> None:
    _app, url = server
    model = gemini(url)
    advice = model.advise(deep_request(CALL, default_playbook(), CONTEXT))
    assert advice.category == "objection"
    assert "price" in advice.assessment.lower()


def test_no_personal_data_reaches_the_cloud_model(server: tuple[Any, str]) -> None:
    app, url = server
    gemini(url).advise(deep_request(CALL, default_playbook(), CONTEXT))
    sent = json.dumps(app.received)
    assert "priya.nair@northwind.example" not in sent and "415-555-0134" not in sent
    assert "Priya" not in sent and "[EMAIL]" in sent and "[NAME]" in sent


def test_wrong_key_is_a_non_retryable_error(server: tuple[Any, str]) -> None:
    _app, url = server
    with pytest.raises(ProviderError) as exc:
        gemini(url, key="wrong").advise(deep_request(CALL, default_playbook()))
    assert exc.value.retryable is False


@pytest.mark.parametrize("mode", ["malformed", "status", "delay"])
def test_broken_or_late_answers_fall_back_to_the_local_engine(server: tuple[Any, str],
                                                               mode: str) -> None:
    app, url = server
    app.faults = gemini_server.Faults(mode=mode, count=1, status=503, delay_s=2.0)
    pb = default_playbook()
    model = FallbackModel(GeminiModel(KEY, base_url=url, timeout_s=0.5), LocalModel(pb))
    advice = model.advise(deep_request(CALL, pb))
    assert model.fallbacks == 1 and advice.category == "objection"


def test_summary_lists_the_unacknowledged_objection(server: tuple[Any, str]) -> None:
    _app, url = server
    summary = gemini(url).summarise(deep_request(CALL, default_playbook()))
    assert summary.summary and any("price" in r for r in summary.risks)


def test_settings_choose_gemini_only_when_keyed(tmp_path: Any) -> None:
    pb = default_playbook()
    assert isinstance(get_llm(load_settings({"instance_path": tmp_path}), pb), LocalModel)
    keyed = load_settings({"instance_path": tmp_path, "gemini_api_key": "k",
                           "gemini_base_url": "http://127.0.0.1:9"})
    assert isinstance(get_llm(keyed, pb), FallbackModel)


def test_summary_action_items_are_readable_lines() -> None:
    turns = [
        Turn(1, "customer", "Can you send me the security questionnaire by Friday?", 0, 3000),
        Turn(2, "rep", "I'll send the questionnaire and the pricing sheet tomorrow.", 3200, 6000),
        Turn(3, "customer", "Great, let's schedule a demo with my team next Tuesday.", 6200, 9000),
    ]
    summary = LocalModel(default_playbook()).summarise(deep_request(turns, default_playbook()))
    assert all(isinstance(a, str) and a for a in summary.action_items)
    assert any("questionnaire" in a for a in summary.action_items)
