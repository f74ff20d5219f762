"""Capture: what a run ran on and with, recorded so it can be rebuilt and compared.

Three concerns, one module each: :mod:`~reprise.capture.redact` keeps secrets out of everything recorded,
:mod:`~reprise.capture.environment` captures packages, interpreter, OS, hardware, BLAS and environment variables, and
:mod:`~reprise.capture.git` captures the commit and the exact uncommitted change as a binary-safe patch.
"""

from __future__ import annotations

from reprise.capture.environment import (
    BlasLibrary,
    CpuInfo,
    Environment,
    EnvironmentDiff,
    FieldChange,
    Gpu,
    Package,
    PackageChange,
    PlatformInfo,
    PythonInfo,
    capture_environment,
    diff_environments,
    load_capture,
    write_capture,
)
from reprise.capture.git import DEFAULT_MAX_UNTRACKED_BYTES, SECRET_FILE_GLOBS, GitState, apply_patch, capture_git
from reprise.capture.redact import (
    DEFAULT_ENV_GLOBS,
    REDACTED,
    is_secret_name,
    redact_argv,
    redact_env,
    redact_uri,
)

# Plain sorted() order, which tests/unit/test_public_api.py checks (ruff's isort-style order differs).
__all__ = [
    "BlasLibrary",
    "CpuInfo",
    "DEFAULT_ENV_GLOBS",
    "DEFAULT_MAX_UNTRACKED_BYTES",
    "Environment",
    "EnvironmentDiff",
    "FieldChange",
    "GitState",
    "Gpu",
    "Package",
    "PackageChange",
    "PlatformInfo",
    "PythonInfo",
    "REDACTED",
    "SECRET_FILE_GLOBS",
    "apply_patch",
    "capture_environment",
    "capture_git",
    "diff_environments",
    "is_secret_name",
    "load_capture",
    "redact_argv",
    "redact_env",
    "redact_uri",
    "write_capture",
]
