"""Reprise: make every machine-learning result reproducible on demand.

The public API is resolved lazily, so ``import reprise`` stays instant and loads none of MLflow, DVC, pandas or
scikit-learn until a function that needs them is called.

Example:
    >>> import reprise
    >>> with reprise.start_run(params={"max_depth": 4}, inputs=["data/train.csv"]) as run:  # doctest: +SKIP
    ...     ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reprise.capture.environment import Environment, capture_environment
    from reprise.capture.git import GitState, capture_git
    from reprise.capture.record import RunRecord
    from reprise.config import Settings, load_settings
    from reprise.errors import (
        CaptureError,
        ConfigError,
        DataError,
        MissingExtraError,
        NotAProjectError,
        NotFoundError,
        RepriseError,
        TrackingError,
    )
    from reprise.project import init_project
    from reprise.seeding import SeedConfig, derive_seed, ensure_reproducibility
    from reprise.tracking.artifacts import log_model_explanations
    from reprise.tracking.models import LoggedModel, log_model
    from reprise.tracking.runs import CapturedRun, log_predictions, run_command, start_run

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "CaptureError": "reprise.errors",
    "CapturedRun": "reprise.tracking.runs",
    "ConfigError": "reprise.errors",
    "DataError": "reprise.errors",
    "Environment": "reprise.capture.environment",
    "GitState": "reprise.capture.git",
    "LoggedModel": "reprise.tracking.models",
    "MissingExtraError": "reprise.errors",
    "NotAProjectError": "reprise.errors",
    "NotFoundError": "reprise.errors",
    "RepriseError": "reprise.errors",
    "RunRecord": "reprise.capture.record",
    "SeedConfig": "reprise.seeding",
    "Settings": "reprise.config",
    "TrackingError": "reprise.errors",
    "capture_environment": "reprise.capture.environment",
    "capture_git": "reprise.capture.git",
    "derive_seed": "reprise.seeding",
    "ensure_reproducibility": "reprise.seeding",
    "init_project": "reprise.project",
    "load_settings": "reprise.config",
    "log_model": "reprise.tracking.models",
    "log_model_explanations": "reprise.tracking.artifacts",
    "log_predictions": "reprise.tracking.runs",
    "run_command": "reprise.tracking.runs",
    "start_run": "reprise.tracking.runs",
}

__all__ = [
    "CaptureError",
    "CapturedRun",
    "ConfigError",
    "DataError",
    "Environment",
    "GitState",
    "LoggedModel",
    "MissingExtraError",
    "NotAProjectError",
    "NotFoundError",
    "RepriseError",
    "RunRecord",
    "SeedConfig",
    "Settings",
    "TrackingError",
    "__version__",
    "capture_environment",
    "capture_git",
    "derive_seed",
    "ensure_reproducibility",
    "init_project",
    "load_settings",
    "log_model",
    "log_model_explanations",
    "log_predictions",
    "run_command",
    "start_run",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reprise' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
