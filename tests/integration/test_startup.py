"""Startup budget: a bare import and ``reprise --help`` load none of the heavy libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("mlflow", "dvc", "pandas", "sklearn", "fastapi", "shap", "numpy", "sqlalchemy", "xgboost", "lightgbm")

_PROBE = """
import sys
{body}
heavy = sorted(name for name in {heavy!r} if name in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


def _loaded(body: str) -> list[str]:
    script = _PROBE.format(body=body, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("HEAVY="))
    return [name for name in line.removeprefix("HEAVY=").split(",") if name]


@pytest.mark.parametrize(
    "body",
    [
        "import reprise",
        "import reprise\nfor name in reprise.__all__:\n    getattr(reprise, name)",
        "from reprise.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        "from reprise.cli.main import main\ntry:\n    main(['run', '--help'])\nexcept SystemExit:\n    pass",
    ],
    ids=["import", "resolve-public-api", "help", "run-help"],
)
def test_startup_loads_no_heavy_library(body: str) -> None:
    assert _loaded(body) == []
