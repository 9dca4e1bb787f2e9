"""The scenario library loads, and bad scenario files fail naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from plugin.practice.scenarios import (
    SCENARIO_DIR,
    ScenarioError,
    load_scenario_file,
    load_scenarios,
)

REQUIRED = {"cfo-discovery", "procurement-price", "competitor-comparison", "renewal-at-risk",
            "gatekeeper-cold-call", "technical-evaluator"}


def test_shipped_library_has_the_required_scenarios() -> None:
    scenarios = load_scenarios()
    assert set(scenarios) >= REQUIRED
    for s in scenarios.values():
        assert s.persona.name and s.opening and s.product.pricing
        for o in s.objections:
            assert len(o.phrasings) >= 2  # rising pressure
            assert o.needed <= len(o.key_points)


def _write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_missing_field_error_names_file_and_field(tmp_path: Path) -> None:
    data = yaml.safe_load((SCENARIO_DIR / "cfo-discovery.yaml").read_text())
    del data["objections"][1]["key_points"][0]["probe"]
    path = _write(tmp_path, "cfo-discovery", data)
    with pytest.raises(ScenarioError) as err:
        load_scenario_file(path)
    assert str(path) in str(err.value)
    assert "objections[1].key_points[0].probe" in str(err.value)


def test_wrong_type_and_unknown_field_are_reported(tmp_path: Path) -> None:
    data = yaml.safe_load((SCENARIO_DIR / "cfo-discovery.yaml").read_text())
    data["patience"] = "lots"
    data["objections"][0]["typo_field"] = 1
    with pytest.raises(ScenarioError) as err:
        load_scenario_file(_write(tmp_path, "cfo-discovery", data))
    assert "patience" in str(err.value) and "objections[0].typo_field" in str(err.value)


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken", "id: broken\ntitle: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: line \d+ invalid YAML"):
        load_scenario_file(path)


def test_id_must_match_file_name(tmp_path: Path) -> None:
    data = yaml.safe_load((SCENARIO_DIR / "cfo-discovery.yaml").read_text())
    with pytest.raises(ScenarioError, match="must match the file name 'other'"):
        load_scenario_file(_write(tmp_path, "other", data))
