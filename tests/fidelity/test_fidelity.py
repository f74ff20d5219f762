"""The fidelity suite: every way a user captures a run, reproduced through the CLI, gets the verdict it must get.

Each scenario of ``fidelity_scenarios.SCENARIOS`` is a small real project (git, DVC, SQLite MLflow store): captured,
perhaps changed, reproduced. A change must be detected with the right first cause; an identical re-run must be called
identical and say what it compared; a run with nothing to compare must be ``unverified`` (exit 4), never identical.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fidelity_scenarios import SCENARIOS, Scenario, run_scenario

_EXIT = {"identical": 0, "within_tolerance": 0, "different": 1, "refused": 1, "unverified": 4}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_gets_its_verdict_and_first_cause(
    scenario: Scenario, tmp_path: Path, mlflow_db_template: Path
) -> None:
    outcome = run_scenario(tmp_path / "project", scenario, mlflow_db_template)
    assert (outcome.verdict, outcome.first_cause) == (scenario.expected_verdict, scenario.expected_cause), (
        outcome.headline
    )
    assert outcome.exit_code == _EXIT[scenario.expected_verdict], outcome.headline
    if outcome.verdict in ("identical", "within_tolerance", "different"):
        evidence = outcome.result["comparison"]
        assert isinstance(evidence, dict)
        assert "compared" in outcome.headline and "nothing compared" not in outcome.headline
    if outcome.verdict == "identical":
        assert outcome.result["explanation"]["causes"] == []  # type: ignore[index]
