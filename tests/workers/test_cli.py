"""``salescoach analyze`` runs one recording through every stage; ``salescoach worker`` and
``analyze`` explain themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from plugin.cli import main


def test_worker_and_analyze_have_helpful_help() -> None:
    runner = CliRunner()
    worker = runner.invoke(main, ["worker", "--help"])
    assert worker.exit_code == 0 and "--concurrency" in worker.output and "broker" in worker.output
    analyze = runner.invoke(main, ["analyze", "--help"])
    assert analyze.exit_code == 0 and "--record" in analyze.output and "--queue" in analyze.output


@pytest.fixture
def cli_env(database_url: str, worker_instance: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESCOACH_INSTANCE_PATH", str(worker_instance))
    monkeypatch.setenv("SALESCOACH_DATABASE_URL", database_url)
    monkeypatch.setenv("SALESCOACH_SECRET_KEY", "test-secret")


def test_analyze_refuses_a_file_that_is_not_audio(cli_env: None, tmp_path: Path) -> None:
    notes = tmp_path / "notes.wav"
    notes.write_text("meeting notes, not audio\n" * 10)
    result = CliRunner().invoke(main, ["analyze", str(notes), "--tenant", "demo"])
    assert result.exit_code == 1 and "not a supported audio file" in result.output


@pytest.mark.slow
def test_analyze_writes_the_report_and_the_crm_activity(cli_env: None, crm: Any,
                                                        call_wav: Path) -> None:
    crm.connect("sf:00DCLI000000001", "salesforce")
    record_id, record_type = crm.person()
    result = CliRunner().invoke(main, ["analyze", str(call_wav), "--tenant", "sf:00DCLI000000001",
                                       "--record", record_id, "--record-type", record_type])
    assert result.exit_code == 0, result.output
    assert "CRM id" in result.output and "/panel/calls/" in result.output
    call_id = result.output.split("/panel/calls/")[1].split()[0]
    assert len(crm.activities(call_id)) == 1
