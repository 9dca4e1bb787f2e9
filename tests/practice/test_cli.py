"""`salescoach practice`: listing, scripted runs (text and JSON), typed input and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from plugin.cli import main

from .replies import GOOD_CLOSE, GOOD_ROI, GOOD_SPRAWL, WEAK_ROI


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Any:
    env = {"SALESCOACH_DATABASE_URL": database_url, "SALESCOACH_INSTANCE_PATH": str(tmp_path),
           "SALESCOACH_ENV": "test", "COLUMNS": "200"}

    def run(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(main, ["practice", *args], env=env, input=input,
                                  catch_exceptions=False)

    return run


def test_help_explains_the_options(cli: Any) -> None:
    out = cli("--help").output
    for opt in ("--scenario", "--list", "--script", "--json"):
        assert opt in out


def test_list_shows_every_scenario(cli: Any) -> None:
    result = cli("--list", "--json")
    ids = {s["id"] for s in json.loads(result.stdout)["scenarios"]}
    assert {"cfo-discovery", "technical-evaluator"} <= ids
    assert "Discovery with a sceptical CFO" in cli("--list").output


def test_scripted_run_prints_feedback_and_scorecard(cli: Any, tmp_path: Path) -> None:
    script = tmp_path / "replies.txt"
    script.write_text("# the CFO call\n" + "\n".join([WEAK_ROI, GOOD_ROI, GOOD_SPRAWL,
                                                      GOOD_CLOSE]) + "\n")
    result = cli("--scenario", "cfo-discovery", "--script", str(script))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Margaret Okafor:" in out and "Reply 1" in out and "Stronger:" in out
    assert "Scorecard" in out and "Next step agreed" in out


def test_scripted_json_run_and_rejected_lines(cli: Any, tmp_path: Path) -> None:
    script = tmp_path / "replies.yaml"
    script.write_text(yaml.safe_dump({"replies": [GOOD_ROI, "x" * 5000, "!!! ...",
                                                  GOOD_SPRAWL, GOOD_CLOSE]}))
    result = cli("--scenario", "cfo-discovery", "--script", str(script), "--json",
                 "--user", "cli-rep")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["outcome"] == "next_step_agreed"
    assert [r["seq"] for r in data["replies"]] == [1, 2, 3]
    assert [e["code"] for e in data["rejected"]] == ["reply_too_long", "not_text"]
    assert data["scorecard"]["averages"]["content"] > 50
    assert data["progress"]["count"] >= 1


def test_typed_replies_until_finish(cli: Any) -> None:
    result = cli("--scenario", "gatekeeper-cold-call", "--json",
                 input="Hi, can I speak to Mr. Alvarez?\n/finish\n")
    data = json.loads(result.stdout)
    assert len(data["replies"]) == 1 and data["outcome"] == "rep_finished"


def test_unknown_scenario_and_bad_script(cli: Any, tmp_path: Path) -> None:
    result = cli("--scenario", "nope", "--script", __file__)
    assert result.exit_code != 0 and "unknown scenario 'nope'" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("replies: {not: a list}\n")
    result = cli("--scenario", "cfo-discovery", "--script", str(bad))
    assert result.exit_code != 0 and "expected a YAML list" in result.output
    result = cli("--script", str(bad))
    assert result.exit_code != 0 and "--scenario ID is required" in result.output


def test_scorecard_of_a_session_without_replies_has_no_none(cli: Any, tmp_path: Path) -> None:
    script = tmp_path / "empty.txt"
    script.write_text("# nothing said\n")
    out = cli("--scenario", "cfo-discovery", "--script", str(script)).output
    assert "overall –" in out and "None" not in out
