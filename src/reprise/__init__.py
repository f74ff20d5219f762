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

# Not typing.TYPE_CHECKING: importing typing costs helper processes (data._hashworker) ~7 ms of start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from reprise.automl.search import automl
    from reprise.capture.environment import Environment, capture_environment
    from reprise.capture.git import GitState, capture_git
    from reprise.capture.record import RunRecord
    from reprise.config import Settings, load_settings
    from reprise.data.diff import diff_data
    from reprise.data.manifest import Manifest
    from reprise.data.versions import DataVersion, checkout_data, list_data_versions, verify_data, version_data
    from reprise.errors import (
        CaptureError,
        ConfigError,
        DataError,
        GateFailedError,
        MissingExtraError,
        NotAProjectError,
        NotFoundError,
        RegistryError,
        RepriseError,
        ReproductionError,
        TrackingError,
    )
    from reprise.project import init_project
    from reprise.registry.compare import best_version, compare_versions
    from reprise.registry.export import export_model
    from reprise.registry.gates import Gate, GateReport
    from reprise.registry.history import alias_holder
    from reprise.registry.lifecycle import (
        Registration,
        load_model,
        promote_model,
        register_model,
        set_model_alias,
    )
    from reprise.reproduce.audit import AuditReport, audit_command, audit_stages
    from reprise.reproduce.compare import Tolerance, Verdict
    from reprise.reproduce.replay import Reproduction, reproduce_run
    from reprise.reproduce.validate import ValidationReport, save_reference, validate_run
    from reprise.seeding import SeedConfig, derive_seed, ensure_reproducibility
    from reprise.serve.app import create_app
    from reprise.tracking.artifacts import log_model_explanations
    from reprise.tracking.data import log_manifest
    from reprise.tracking.models import LoggedModel, log_model
    from reprise.tracking.runs import CapturedRun, log_predictions, run_command, start_run
    from reprise.versioning.pipeline_fits import apply_pipeline, fit_pipeline
    from reprise.versioning.pipelines import version_pipeline

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "AuditReport": "reprise.reproduce.audit",
    "CaptureError": "reprise.errors",
    "CapturedRun": "reprise.tracking.runs",
    "ConfigError": "reprise.errors",
    "DataError": "reprise.errors",
    "DataVersion": "reprise.data.versions",
    "Environment": "reprise.capture.environment",
    "Gate": "reprise.registry.gates",
    "GateFailedError": "reprise.errors",
    "GateReport": "reprise.registry.gates",
    "GitState": "reprise.capture.git",
    "LoggedModel": "reprise.tracking.models",
    "Manifest": "reprise.data.manifest",
    "MissingExtraError": "reprise.errors",
    "NotAProjectError": "reprise.errors",
    "NotFoundError": "reprise.errors",
    "Registration": "reprise.registry.lifecycle",
    "RegistryError": "reprise.errors",
    "RepriseError": "reprise.errors",
    "Reproduction": "reprise.reproduce.replay",
    "ReproductionError": "reprise.errors",
    "RunRecord": "reprise.capture.record",
    "SeedConfig": "reprise.seeding",
    "Settings": "reprise.config",
    "Tolerance": "reprise.reproduce.compare",
    "TrackingError": "reprise.errors",
    "ValidationReport": "reprise.reproduce.validate",
    "Verdict": "reprise.reproduce.compare",
    "alias_holder": "reprise.registry.history",
    "apply_pipeline": "reprise.versioning.pipeline_fits",
    "audit_command": "reprise.reproduce.audit",
    "audit_stages": "reprise.reproduce.audit",
    "automl": "reprise.automl.search",
    "best_version": "reprise.registry.compare",
    "capture_environment": "reprise.capture.environment",
    "capture_git": "reprise.capture.git",
    "checkout_data": "reprise.data.versions",
    "compare_versions": "reprise.registry.compare",
    "create_app": "reprise.serve.app",
    "derive_seed": "reprise.seeding",
    "diff_data": "reprise.data.diff",
    "ensure_reproducibility": "reprise.seeding",
    "export_model": "reprise.registry.export",
    "fit_pipeline": "reprise.versioning.pipeline_fits",
    "init_project": "reprise.project",
    "list_data_versions": "reprise.data.versions",
    "load_model": "reprise.registry.lifecycle",
    "load_settings": "reprise.config",
    "log_manifest": "reprise.tracking.data",
    "log_model": "reprise.tracking.models",
    "log_model_explanations": "reprise.tracking.artifacts",
    "log_predictions": "reprise.tracking.runs",
    "promote_model": "reprise.registry.lifecycle",
    "register_model": "reprise.registry.lifecycle",
    "reproduce_run": "reprise.reproduce.replay",
    "run_command": "reprise.tracking.runs",
    "save_reference": "reprise.reproduce.validate",
    "set_model_alias": "reprise.registry.lifecycle",
    "start_run": "reprise.tracking.runs",
    "validate_run": "reprise.reproduce.validate",
    "verify_data": "reprise.data.versions",
    "version_data": "reprise.data.versions",
    "version_pipeline": "reprise.versioning.pipelines",
}

__all__ = [
    "AuditReport",
    "CaptureError",
    "CapturedRun",
    "ConfigError",
    "DataError",
    "DataVersion",
    "Environment",
    "Gate",
    "GateFailedError",
    "GateReport",
    "GitState",
    "LoggedModel",
    "Manifest",
    "MissingExtraError",
    "NotAProjectError",
    "NotFoundError",
    "Registration",
    "RegistryError",
    "RepriseError",
    "Reproduction",
    "ReproductionError",
    "RunRecord",
    "SeedConfig",
    "Settings",
    "Tolerance",
    "TrackingError",
    "ValidationReport",
    "Verdict",
    "__version__",
    "alias_holder",
    "apply_pipeline",
    "audit_command",
    "audit_stages",
    "automl",
    "best_version",
    "capture_environment",
    "capture_git",
    "checkout_data",
    "compare_versions",
    "create_app",
    "derive_seed",
    "diff_data",
    "ensure_reproducibility",
    "export_model",
    "fit_pipeline",
    "init_project",
    "list_data_versions",
    "load_model",
    "load_settings",
    "log_manifest",
    "log_model",
    "log_model_explanations",
    "log_predictions",
    "promote_model",
    "register_model",
    "reproduce_run",
    "run_command",
    "save_reference",
    "set_model_alias",
    "start_run",
    "validate_run",
    "verify_data",
    "version_data",
    "version_pipeline",
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
