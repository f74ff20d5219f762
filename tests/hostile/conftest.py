"""Hostile tests drive the real CLI: the ``cli`` fixture of tests/e2e/conftest.py, shared rather than copied."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_reprise_e2e_conftest", Path(__file__).parents[1] / "e2e" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)

cli = _e2e.cli
