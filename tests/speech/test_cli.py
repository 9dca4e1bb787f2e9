"""`salescoach transcribe`: turns as JSON for a good file, a clear error for a bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.demo_calls import demo_call_audio


@pytest.mark.slow
def test_transcribe_prints_rep_and_customer_turns_as_json(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESCOACH_INSTANCE_PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["transcribe", "--engine", "local", "--json",
                                       str(demo_call_audio("competitor"))])
    assert result.exit_code == 0, result.output
    turns = json.loads(result.stdout)
    assert turns[0]["speaker"] == "rep" and turns[1]["speaker"] == "customer"
    assert turns[0]["words"][0]["start_ms"] >= 0


def test_transcribe_reports_a_corrupt_file_clearly(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESCOACH_INSTANCE_PATH", str(tmp_path))
    bad = tmp_path / "call.wav"
    bad.write_bytes(b"not audio" * 100)
    result = CliRunner().invoke(main, ["transcribe", "--engine", "local", str(bad)])
    assert result.exit_code == 1
    assert "not a readable audio file" in result.output
