"""The house rules, checked on every run of the suite: layers, lint, types (shared/ARCHITECTURE.md, STYLE.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["lint-imports"],
        ["ruff", "check", "src", "tests", "bench"],
        ["ruff", "format", "--check", "src", "tests", "bench"],
        ["mypy"],
    ],
    ids=["layers", "lint", "format", "types"],
)
def test_house_rule_holds(command: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_git_is_run_only_by_the_git_adapter() -> None:
    """One git adapter (reprise/_git.py): no other module looks git up or starts it."""
    package = ROOT / "src" / "reprise"
    starts_git = re.compile(r"""which\(\s*["']git["']\s*\)|\[\s*["']git["']\s*,""")
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path != package / "_git.py" and "templates" not in path.parts and starts_git.search(path.read_text())
    ]
    assert offenders == []
