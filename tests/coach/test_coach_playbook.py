"""Playbooks load, and malformed ones are rejected with the YAML line and the reason."""

from __future__ import annotations

import pytest

from plugin.coach import DEFAULT_PLAYBOOK_PATH, PlaybookError, default_playbook, load_playbook
from plugin.coach.playbook import OBJECTION_TYPES

MINIMAL = """\
name: Tiny
objections:
  price:
    examples: ["too expensive for us"]
    nudge: Ask about budget
"""


def test_default_playbook_covers_every_objection_type_and_checklist_item() -> None:
    pb = default_playbook()
    assert set(pb.objections) == set(OBJECTION_TYPES)
    assert {c.id for c in pb.checklist} >= {"budget", "authority", "need", "timeline",
                                             "next_step"}
    assert pb.thresholds.talk_ratio_target == 0.43 and pb.thresholds.talk_ratio_warn == 0.65
    assert pb.thresholds.monologue_nudge_s == 75 and pb.thresholds.pace_warn_wpm == 190
    assert all(c.battlecard.line for c in pb.competitors)
    assert DEFAULT_PLAYBOOK_PATH.is_file()


def test_minimal_playbook_gets_sensible_defaults() -> None:
    pb = load_playbook(MINIMAL)
    assert pb.name == "Tiny"
    assert pb.thresholds.questions_target_min == 11
    assert pb.nudges.max_per_minute == 2


@pytest.mark.parametrize(("yaml_text", "line", "reason"), [
    (MINIMAL + "  bogus:\n    examples: [x]\n    nudge: abc\n", 6,
     "unknown objection type 'bogus'"),
    (MINIMAL.replace('examples: ["too expensive for us"]', "examples: []"), 4,
     "at least 1 item"),
    ("thresholds:\n  pace_warn_wpm: fast\n" + MINIMAL, 2, "thresholds.pace_warn_wpm"),
    ("thresholds:\n  talk_ratio_target: 0.7\n  talk_ratio_warn: 0.5\n" + MINIMAL, 2,
     "talk_ratio_warn must be >= talk_ratio_target"),
    (MINIMAL + "    keywords: ['ok', '(unclosed']\n", 6, "invalid regular expression"),
    (MINIMAL + "colour: blue\n", 6, "colour: unknown field"),
    ("name: x\nobjections:\n  price:\n    nudge: Ask about budget\n", 3,
     "objections.price.examples: required field is missing"),
    (MINIMAL + "nudges:\n  max_per_minute: 0\n", 7, "nudges.max_per_minute"),
    ("name: [unclosed\nobjections: {}\n", 2, "invalid YAML"),
    ("- just\n- a list\n", 1, "must be a YAML mapping"),
])
def test_malformed_playbook_is_rejected_with_line_and_reason(yaml_text: str, line: int,
                                                             reason: str) -> None:
    # when a malformed playbook is loaded
    with pytest.raises(PlaybookError) as info:
        load_playbook(yaml_text)
    # then the error names the line and the reason
    assert info.value.line == line, str(info.value)
    assert reason in info.value.reason
    assert str(info.value).startswith(f"line {line}: ")
