"""Replay one trial of a search: same data (checked by sha256), same split, same parameters and seed, same metrics.

A search records everything a trial depends on in its run (``reprise/automl_search.json`` and
``reprise/automl_trials.json``): the data's path and sha256, the excluded columns, the resolved constraints, the
search seed, and each trial's parameters and seed. A replay rebuilds the split and cross-validates the trial again;
its fold metrics must equal the recorded ones exactly (no tolerance: evaluation is a pure function of those inputs).
Measured figures (size, latency) are not replayed: latency depends on the host.

Example:
    >>> replay = replay_trial("4c7db37c9e1b4f0a8a3e1f6e2b7d9c01", 3)  # doctest: +SKIP
    >>> replay.identical
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reprise.automl.evaluate import evaluate_trial
from reprise.automl.presets import Constraints
from reprise.automl.search import load_search_data
from reprise.automl.table import file_sha256
from reprise.capture import layout
from reprise.config import load_settings
from reprise.errors import DataError, NotFoundError

if TYPE_CHECKING:
    from reprise.config import Settings

__all__ = ["TrialReplay", "replay_trial"]


@dataclass(frozen=True)
class TrialReplay:
    """A replayed trial and how its metrics compare with the recorded ones.

    Attributes:
        run_id: The search's run.
        trial: The trial number.
        params: The trial's parameters.
        seed: The trial's seed.
        recorded: The metrics the search logged.
        replayed: The metrics of the replay.
        differences: The metrics that differ: ``{name: (recorded, replayed)}``.
    """

    run_id: str
    trial: int
    params: dict[str, Any]
    seed: int
    recorded: dict[str, float]
    replayed: dict[str, float]
    differences: dict[str, tuple[float | None, float | None]]

    @property
    def identical(self) -> bool:
        """Every metric came out bit for bit the same."""
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "run_id": self.run_id,
            "trial": self.trial,
            "params": self.params,
            "seed": self.seed,
            "identical": self.identical,
            "recorded": self.recorded,
            "replayed": self.replayed,
            "differences": {name: list(pair) for name, pair in self.differences.items()},
        }


def replay_trial(run_id: str, trial: int, *, settings: Settings | None = None) -> TrialReplay:
    """Re-run trial ``trial`` of the search ``run_id`` and compare its metrics with the recorded ones.

    Args:
        run_id: The search's parent run (as printed by ``reprise automl run``).
        trial: The trial number.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The replay; ``identical`` says whether every metric matched exactly.

    Raises:
        NotFoundError: The run is not a search, or has no such trial.
        DataError: The data file is missing or its bytes changed since the search.
    """
    from reprise.tracking.records import read_file

    settings = settings or load_settings()
    search_bytes = read_file(settings, run_id, layout.AUTOML_SEARCH)
    trials_bytes = read_file(settings, run_id, layout.AUTOML_TRIALS)
    if search_bytes is None or trials_bytes is None:
        raise NotFoundError(
            f"run {run_id} is not an AutoML search", hint="pass the run id `reprise automl run` printed"
        )
    search = json.loads(search_bytes)
    recorded = next((item for item in json.loads(trials_bytes) if item["number"] == trial), None)
    if recorded is None:
        raise NotFoundError(f"search {run_id} has no trial {trial}", hint="trials are numbered from 0")
    path = settings.project_dir / search["data"]["path"]
    if not path.is_file():
        raise DataError(f"the search's data {path} is missing", hint="check it out again: reprise data checkout")
    if file_sha256(path) != search["data"]["sha256"]:
        raise DataError(
            f"{path} changed since search {run_id} (sha256 differs)",
            hint="restore the data version the search used (reprise data checkout / git checkout)",
        )
    constraints = Constraints.model_validate(search["constraints"])
    data = load_search_data(path, search["target"], search["excluded"], constraints, int(search["seed"]))
    evaluation = evaluate_trial(recorded["params"], data, constraints, int(recorded["seed"]))
    replayed = evaluation.metrics()
    before: dict[str, float] = recorded["metrics"]
    differences = {
        name: (before.get(name), replayed.get(name))
        for name in sorted(set(before) | set(replayed))
        if before.get(name) != replayed.get(name)
    }
    return TrialReplay(run_id, trial, recorded["params"], int(recorded["seed"]), before, replayed, differences)
