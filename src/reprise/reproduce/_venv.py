"""A fresh virtual environment built by uv from a run's recorded packages.

The record's packages are a complete freeze with exact pins, so they are installed with ``--no-deps`` exactly as
listed: offline from the uv cache first (about a second for ~190 packages), online through uv's normal index
configuration only when the cache lacks something. Local and editable installs (``name @ file://...``) cannot be
pinned: the project's own packages are installed from the reproduction's worktree, Reprise from its recorded source
when that still exists (else from the running Reprise's), each choice written down in :class:`EnvironmentBuild`.

uv never downloads an interpreter here (``UV_PYTHON_DOWNLOADS=never``): when the recorded Python version is not
installed, the venv uses the current one and the build says so.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict

from reprise._canonical import write_atomic
from reprise.errors import ReproductionError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reprise.capture.environment import Environment, Package

__all__ = ["EnvironmentBuild", "build_venv", "current_environment", "pinned_requirements"]

_TIMEOUT: Final = 1800.0
_OVERRIDE: Final = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*(?P<version>\S+)|@\s*(?P<url>\S+))$")


class EnvironmentBuild(BaseModel):
    """How the reproduction's environment was made, and where it differs from the record on purpose or by force.

    Attributes:
        mode: ``isolated`` (a fresh venv) or ``in_place`` (the current interpreter).
        python: The interpreter the re-run used.
        python_version: Its version.
        python_requested: The recorded version.
        pins: Exact pins installed from the index or cache.
        overrides: Pins the caller changed on purpose (``--with``).
        local_installs: Local/editable packages and where each was installed from.
        offline: Everything came from the uv cache (no index was contacted).
        notes: Differences the build could not avoid (another Python, a local package that no longer exists).
        bytecode_cached: ``.pyc`` files linked in from Reprise's byte-code cache (not recompiled).
        bytecode_borrowed: ``.pyc`` files taken from the running environment for byte-identical sources.
        seconds: Wall time of the build.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["isolated", "in_place"]
    python: str
    python_version: str
    python_requested: str
    pins: int = 0
    overrides: tuple[str, ...] = ()
    local_installs: tuple[str, ...] = ()
    offline: bool = True
    notes: tuple[str, ...] = ()
    bytecode_cached: int = 0
    bytecode_borrowed: int = 0
    seconds: float = 0.0


def current_environment(recorded: Environment) -> EnvironmentBuild:
    """Describe the current interpreter as the environment of an in-place reproduction."""
    version = platform.python_version()
    notes = (
        () if version == recorded.python.version else (f"Python {recorded.python.version} recorded, {version} used",)
    )
    return EnvironmentBuild(
        mode="in_place",
        python=sys.executable,
        python_version=version,
        python_requested=recorded.python.version,
        notes=notes,
    )


def pinned_requirements(recorded: Environment, overrides: Sequence[str] = ()) -> tuple[list[str], list[Package]]:
    """Split the recorded packages into requirement lines to install by pin and local packages to install by path.

    Args:
        recorded: The recorded environment.
        overrides: ``name==version`` (or ``name @ url``) lines that replace the recorded pin of ``name``.

    Returns:
        The requirement lines (sorted by name, overrides applied) and the local (``file:``) packages.

    Raises:
        ReproductionError: An override is not ``name==version`` or ``name @ url``.
    """
    from reprise.capture.environment import Package

    lines: dict[str, str] = {}
    local: list[Package] = []
    for package in recorded.packages:
        if package.source is not None and package.source.startswith("file:"):
            local.append(package)
        else:
            lines[package.name] = package.requirement()
    for override in overrides:
        match = _OVERRIDE.match(override.strip())
        if match is None:
            raise ReproductionError(f"cannot read --with {override!r}", hint="write --with name==version")
        name = Package(name=match["name"], version=match["version"] or "0").name
        local = [package for package in local if package.name != name]
        lines[name] = f"{name}=={match['version']}" if match["version"] else f"{name} @ {match['url']}"
    return [lines[name] for name in sorted(lines)], local


def build_venv(
    recorded: Environment,
    destination: Path,
    *,
    original_root: str | None,
    worktree_root: Path,
    project_dir: Path,
    overrides: Sequence[str] = (),
) -> EnvironmentBuild:
    """Create a venv at ``destination`` with the recorded packages.

    Args:
        recorded: The recorded environment.
        destination: The venv folder (must not exist).
        original_root: The git top folder the run was captured in: local packages under it come from the worktree.
        worktree_root: The worktree's top folder.
        project_dir: The project folder inside the worktree.
        overrides: Pins to change on purpose (``name==version``).

    Returns:
        What was built.

    Raises:
        ReproductionError: uv is missing, or a recorded pin cannot be installed (the message names it).
    """
    start = time.perf_counter()
    uv = _uv()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    env.pop("VIRTUAL_ENV", None)
    notes: list[str] = []
    requested = recorded.python.version
    if _run(uv, ["venv", "--quiet", "--python", requested, str(destination)], env).returncode != 0:
        fallback = _run(uv, ["venv", "--quiet", "--python", sys.executable, str(destination)], env)
        if fallback.returncode != 0:
            raise ReproductionError(f"uv venv failed: {_last_line(fallback.stderr)}", hint="uv python list")
        notes.append(f"Python {requested} is not installed here (no downloads): the venv uses Python {_py_version()}")
    python = destination / "bin" / "python"
    lines, local = pinned_requirements(recorded, overrides)
    requirements = destination / "reprise-requirements.txt"
    write_atomic(requirements, "".join(line + "\n" for line in lines))
    offline = _install(uv, python, ["-r", str(requirements)], env, what="the recorded packages") if lines else True
    targets, installs, more_notes = _local_targets(recorded, local, original_root, worktree_root, project_dir)
    notes += more_notes
    if targets:
        offline = _install(uv, python, targets, env, what="the local packages") and offline
    version = _run(str(python), ["-c", "import platform; print(platform.python_version())"], env).stdout.strip()
    return EnvironmentBuild(
        mode="isolated",
        python=str(python),
        python_version=version,
        python_requested=requested,
        pins=len(lines),
        overrides=tuple(overrides),
        local_installs=tuple(installs),
        offline=offline,
        notes=tuple(notes),
        seconds=round(time.perf_counter() - start, 3),
    )


def _local_targets(
    recorded: Environment, local: Sequence[Package], original_root: str | None, worktree_root: Path, project_dir: Path
) -> tuple[list[str], list[str], list[str]]:
    """The uv arguments for the local packages, a line per install saying where from, and notes for those skipped."""
    targets: list[str] = []
    installs: list[str] = []
    notes: list[str] = []
    handled: set[str] = set()
    for package in local:
        path = _file_path(package.source or "")
        where = "recorded source"
        if original_root and path is not None and path.is_relative_to(original_root):
            path, where = worktree_root / path.relative_to(original_root), "the worktree"
        if package.name == "reprise" and (path is None or not path.exists()):
            path, where = _running_reprise(), "the running Reprise (its recorded source is gone)"
        if path is None or not path.exists():
            notes.append(f"{package.name} {package.version} came from {package.source}, which no longer exists")
            continue
        targets += ["-e", str(path)] if package.editable else [str(path)]
        installs.append(f"{package.name}{' (editable)' if package.editable else ''} from {path} ({where})")
        handled.add(package.name)
    names = {package.name for package in recorded.packages}
    project_name = _project_name(project_dir)
    if project_name is not None and project_name in names and project_name not in handled:
        targets += ["-e", str(project_dir)]
        installs.append(f"{project_name} (editable) from {project_dir} (the worktree)")
    if "reprise" not in names:
        running = _running_reprise()
        if running is not None:
            targets += ["-e", str(running)]
            installs.append(f"reprise (editable) from {running} (the running Reprise: the record has none)")
    return targets, installs, notes


def _install(uv: str, python: Path, args: list[str], env: dict[str, str], *, what: str) -> bool:
    """Install offline if the cache has everything, else online; True when it was offline."""
    base = ["pip", "install", "--quiet", "--no-deps", "--python", str(python)]
    if _run(uv, [*base, "--offline", *args], env).returncode == 0:
        return True
    online = _run(uv, [*base, *args], env)
    if online.returncode != 0:
        raise ReproductionError(
            f"cannot install {what} of the record: {_last_line(online.stderr)}",
            hint="check the index is reachable, or change the pin with --with name==version",
        )
    return False


def _running_reprise() -> Path | None:
    try:
        direct = metadata.distribution("reprise").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if direct:
        path = _file_path(json.loads(direct).get("url", ""))
        if path is not None and path.exists():
            return path
    source = Path(__file__).resolve().parents[3]
    return source if (source / "pyproject.toml").is_file() else None


def _project_name(project_dir: Path) -> str | None:
    pyproject = project_dir / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
        return None
    return re.sub(r"[-_.]+", "-", name).lower() if isinstance(name, str) else None


def _file_path(url: str) -> Path | None:
    if not url.startswith("file:"):
        return None
    return Path(unquote(urlparse(url).path))


def _uv() -> str:
    found = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if found is None:
        raise ReproductionError(
            "uv is not installed: the reproduction's environment is built with it", hint="pip install uv"
        )
    return found


def _py_version() -> str:
    return platform.python_version()


def _run(program: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([program, *args], capture_output=True, text=True, env=env, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReproductionError(f"{Path(program).name} {args[0]} failed: {exc}", hint="uv --version") from exc


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("hint")]
    return lines[-1].removeprefix("error: ").removeprefix("cause: ") if lines else "no output"
