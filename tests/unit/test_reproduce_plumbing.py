"""What a re-run is made of: pins to install, the command line, the environment variables, borrowed byte code."""

from __future__ import annotations

import importlib.util
import os
import py_compile
import sys
from pathlib import Path

import pytest

from reprise.capture.environment import Package
from reprise.capture.redact import REDACTED
from reprise.config import Settings
from reprise.data.manifest import FileEntry, Manifest, manifest_digest
from reprise.errors import NotFoundError, ReproductionError
from reprise.reproduce._bytecode import borrow_bytecode
from reprise.reproduce._execute import child_env, replay_argv
from reprise.reproduce._venv import pinned_requirements
from reprise.reproduce.resolve import parse_run_id

from .test_explain import _environment, _record


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        project_dir=tmp_path,
        tracking_uri=f"sqlite:///{tmp_path}/.reprise/mlflow.db",
        artifact_location=(tmp_path / ".reprise" / "mlartifacts").as_uri(),
        store_uri=f"sqlite:///{tmp_path}/.reprise/reprise.db",
    )


def test_pins_leave_local_packages_out_and_apply_overrides() -> None:
    lines, local = pinned_requirements(_environment(), ["six==1.16.0", "Tabulate==0.9.0"])
    assert lines == ["numpy==2.4.6", "scikit-learn==1.9.1", "six==1.16.0", "tabulate==0.9.0"]
    assert [package.name for package in local] == ["myproject"]


def test_an_override_of_a_local_package_replaces_it() -> None:
    lines, local = pinned_requirements(_environment(), ["myproject==0.1.0"])
    assert "myproject==0.1.0" in lines
    assert local == []


def test_a_bad_override_is_refused() -> None:
    with pytest.raises(ReproductionError, match="cannot read --with 'six'"):
        pinned_requirements(_environment(), ["six"])


def test_vcs_sources_stay_pinned_by_their_url() -> None:
    env = _environment(packages=(Package(name="lib", version="1.0", source="git+https://h/r.git@abc"),))
    assert pinned_requirements(env)[0] == ["lib @ git+https://h/r.git@abc"]


def _manifest(path: str) -> Manifest:
    entries = (FileEntry(path=f"{path}/a.csv", size=1, hashes={"sha256": "0" * 64}),)
    return Manifest(paths=(path,), files=entries, digest=manifest_digest(entries))


def test_the_replay_runs_the_recorded_command_under_reprise_run_with_seed_and_paths() -> None:
    record = _record(inputs=_manifest("data"))
    argv = replay_argv(record, "/venv/bin/python", run_name="train", outputs=["out", "report.json"])
    assert argv == [
        "/venv/bin/python", "-m", "reprise", "run", "--seed", "42", "--name", "train",
        "-i", "data", "-o", "out", "-o", "report.json", "--", "python", "train.py",
    ]  # fmt: skip


def test_a_recorded_dvc_repro_is_forced() -> None:
    record = _record(code=_record().code.model_copy(update={"command": ["dvc", "repro"]}), inputs=None)
    assert replay_argv(record, "py", run_name=None, outputs=[])[-3:] == ["dvc", "repro", "--force"]


@pytest.mark.parametrize(
    ("command", "message"),
    [(None, "recorded no command"), (["python", "t.py", "--token", REDACTED], "had secrets redacted")],
    ids=["no-command", "redacted"],
)
def test_commands_that_cannot_be_replayed(command: list[str] | None, message: str) -> None:
    record = _record(code=_record().code.model_copy(update={"command": command}))
    with pytest.raises(ReproductionError, match=message):
        replay_argv(record, "py", run_name=None, outputs=[])


def test_child_env_restores_recorded_variables_and_redirects_logging(tmp_path: Path) -> None:
    env_vars = {"PYTHONHASHSEED": "42", "OMP_NUM_THREADS": "1", "MLFLOW_RUN_ID": "x" * 32, "API_TOKEN": REDACTED}
    record = _record(environment=_environment(env_vars=env_vars))
    current = {
        "PATH": "/usr/bin",
        "OMP_NUM_THREADS": "8",
        "MKL_NUM_THREADS": "4",
        "REPRISE_SEED": "7",
        "API_TOKEN": "secret-here",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": "/root",
    }
    env = child_env(
        record,
        _settings(tmp_path),
        experiment="exp",
        parent_run_id="p" * 32,
        bin_dir=Path("/venv/bin"),
        venv=Path("/venv"),
        environ=current,
    )
    assert env["OMP_NUM_THREADS"] == "1"  # recorded value wins
    assert "MKL_NUM_THREADS" not in env  # the original run did not have it
    assert "REPRISE_SEED" not in env
    assert env["API_TOKEN"] == "secret-here"  # never recorded, so kept from here
    assert env["MLFLOW_RUN_ID"] == "p" * 32
    assert env["REPRISE_TRACKING_URI"].endswith("/.reprise/mlflow.db")
    assert env["REPRISE_EXPERIMENT"] == "exp"
    assert env["PATH"].startswith("/venv/bin" + os.pathsep)
    assert env["VIRTUAL_ENV"] == "/venv"
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["HOME"] == "/root"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"


@pytest.mark.parametrize(
    ("target", "expected"),
    [("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
     ("runs:/0123456789abcdef0123456789abcdef/model", "0123456789abcdef0123456789abcdef")],
    ids=["id", "runs-uri"],
)  # fmt: skip
def test_run_ids_are_read_from_ids_and_uris(target: str, expected: str) -> None:
    assert parse_run_id(target) == expected


def test_anything_else_is_not_a_run_id() -> None:
    with pytest.raises(NotFoundError, match="is not a run id"):
        parse_run_id("my-model@champion")


def test_borrowed_bytecode_is_what_python_would_compile_and_is_used(tmp_path: Path) -> None:
    donor, target = tmp_path / "donor", tmp_path / "target"
    for site in (donor, target):
        (site / "pkg").mkdir(parents=True)
        (site / "pkg" / "__init__.py").write_text("VALUE = 41 + 1\n")
        (site / "pkg" / "other.py").write_text("X = 1\n")
    (target / "pkg" / "other.py").write_text("X = 2\n")  # same size, other bytes: must not be borrowed
    (donor / "pkg" / "tests").mkdir()
    (donor / "pkg" / "tests" / "t.py").write_text("")
    for path in donor.rglob("*.py"):
        py_compile.compile(str(path), cfile=importlib.util.cache_from_source(str(path)), doraise=True)
    os.utime(target / "pkg" / "__init__.py", (1_000_000, 1_000_000))
    written, _ = borrow_bytecode(target, donor)
    assert written == 1
    borrowed = Path(importlib.util.cache_from_source(str(target / "pkg" / "__init__.py")))
    fresh = tmp_path / "fresh.pyc"
    py_compile.compile(str(target / "pkg" / "__init__.py"), cfile=str(fresh), doraise=True)
    assert borrowed.read_bytes()[:16] == fresh.read_bytes()[:16]  # header for the target's own mtime and size
    assert not Path(importlib.util.cache_from_source(str(target / "pkg" / "other.py"))).exists()
    sys.path.insert(0, str(target))
    try:
        module = importlib.import_module("pkg")
        assert module.VALUE == 42
        assert module.__file__ == str(target / "pkg" / "__init__.py")
    finally:
        sys.path.remove(str(target))
        sys.modules.pop("pkg", None)
