"""Every shipped scenario is winnable with strong answers in the rep's own words, and
generic, negative, off-topic or risky answers never count as good anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from plugin.practice import buyer
from plugin.practice.scenarios import get_scenario, library
from plugin.practice.scoring import Meaning, score_reply

GOOD_RUNS = yaml.safe_load((Path(__file__).parent / "data" / "good_runs.yaml").read_text())
WEAK = [
    "Our product is the best on the market, trust me.",
    "Unfortunately we can't really change that, it is what it is.",
    "Um, I guess, like, maybe we could basically look at it?",
    "Sure. Anyway, did you see the game last night?",
    "We guarantee you will double your revenue in a month.",
]


def test_every_scenario_has_a_good_run() -> None:
    assert set(GOOD_RUNS) == set(library())


@pytest.mark.parametrize("scenario_id", sorted(GOOD_RUNS))
def test_strong_answers_win_the_scenario(scenario_id: str, meaning: Meaning,
                                         playbook: Any) -> None:
    scenario = get_scenario(scenario_id)
    assert scenario is not None
    state = buyer.initial_state(scenario)
    for reply in GOOD_RUNS[scenario_id]:
        stage = buyer.current_stage(scenario, state)
        fb = score_reply(reply, scenario, stage, state["line"], set(state["covered"]), playbook,
                         meaning)
        assert fb.quality == "good", (stage.id, fb.content.reason, fb.strategy.reason)
        assert fb.overall >= 75, (stage.id, fb.overall)
        state = buyer.respond(scenario, state, fb.quality, fb.covered, fb.risky, fb.overall)
    assert state["outcome"] == "next_step_agreed"


@pytest.mark.parametrize("scenario_id", sorted(GOOD_RUNS))
def test_generic_answers_are_never_good(scenario_id: str, meaning: Meaning,
                                        playbook: Any) -> None:
    scenario = get_scenario(scenario_id)
    assert scenario is not None
    for index in range(len(scenario.objections) + 1):
        stage = buyer.stage_of(scenario, index)
        for reply in WEAK:
            fb = score_reply(reply, scenario, stage, stage.phrasings[0], set(), playbook,
                             meaning)
            assert fb.quality != "good" and fb.overall < 50, (stage.id, reply, fb.overall)
