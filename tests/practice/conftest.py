"""Shared fixtures of the practice tests."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.coach import default_playbook
from plugin.practice.scoring import Meaning


@pytest.fixture(scope="session")
def meaning() -> Meaning:
    return Meaning(True)


@pytest.fixture(scope="session")
def playbook() -> Any:
    return default_playbook()
