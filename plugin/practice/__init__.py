"""Practice mode: scenarios, a simulated buyer, per-reply feedback and progress.

Public entry points: ``library``/``get_scenario`` (scenarios), ``PracticeService`` (persisted
sessions, used by the REST API and the CLI).
"""

from plugin.practice.scenarios import Scenario, ScenarioError, get_scenario, library

__all__ = ["Scenario", "ScenarioError", "get_scenario", "library"]
