"""What a re-run is made of: pins to install, the command line, the environment variables, borrowed byte code."""

from __future__ import annotations

import importlib.util
import os
import py_compile
import sys
import time
from pathlib import Path

import pytest

from reprise.capture.environment import Package
from reprise.capture.redact import REDACTED
from reprise.config import Settings
from reprise.data.manifest import FileEntry, Manifest, manifest_digest
from reprise.errors import NotFoundError, ReproductionError
from reprise.reproduce._bytecode import STALE_DAYS, BytecodeCache
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


def test_the_recorded_interpreter_path_becomes_the_reruns() -> None:
    record = _record(code=_record().code.model_copy(update={"command": ["/usr/bin/python3", "train.py"]}))
    assert replay_argv(record, "/venv/bin/python", run_name=None, outputs=[])[-2:] == ["/venv/bin/python", "train.py"]


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
    assert env["REPRISE_REPRODUCTION_OF"] == record.run_id  # side-effecting code can tell
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


def _site(root: Path, files: dict[str, str]) -> Path:
    """A minimal site-packages: the files and a dist-info RECORD with their sha256 (as an installer writes it)."""
    import base64
    import hashlib

    lines = []
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        lines.append(f"{relative},sha256={digest},{len(text)}")
    (root / "pkg-1.0.dist-info").mkdir(exist_ok=True)
    (root / "pkg-1.0.dist-info" / "RECORD").write_text("\n".join(lines) + "\n")
    return root


def test_bytecode_is_borrowed_then_shared_by_links_and_python_uses_it(tmp_path: Path) -> None:
    files = {"pkg/__init__.py": "VALUE = 41 + 1\n", "pkg/other.py": "X = 1\n", "pkg/tests/test_x.py": "Y = 1\n"}
    donor = _site(tmp_path / "donor", files)
    for path in donor.rglob("*.py"):
        py_compile.compile(str(path), cfile=importlib.util.cache_from_source(str(path)), doraise=True)
    target = _site(tmp_path / "venv1", {**files, "pkg/other.py": "X = 2\n"})  # other.py: other bytes
    os.utime(target / "pkg" / "__init__.py", (1_000_000, 1_000_000))
    cache = BytecodeCache(tmp_path / "cache")
    assert cache.fill(target, donor) == (0, 1)  # only __init__.py: other.py differs, tests are skipped
    borrowed = Path(importlib.util.cache_from_source(str(target / "pkg" / "__init__.py")))
    fresh = tmp_path / "fresh.pyc"
    py_compile.compile(str(target / "pkg" / "__init__.py"), cfile=str(fresh), doraise=True)
    assert borrowed.read_bytes()[:16] == fresh.read_bytes()[:16]  # a header for the venv's own file
    sys.path.insert(0, str(target))
    try:
        module = importlib.import_module("pkg")
        assert module.VALUE == 42
        assert module.__file__ == str(target / "pkg" / "__init__.py")
    finally:
        sys.path.remove(str(target))
        sys.modules.pop("pkg", None)
    other = target / "pkg" / "other.py"  # what Python compiles on the spot during a re-run...
    py_compile.compile(str(other), cfile=importlib.util.cache_from_source(str(other)), doraise=True)
    assert cache.harvest(target) == 1  # ...is kept
    # A second venv whose sources are hard links to the same files (as uv makes them): all linked, nothing borrowed.
    second = _linked_copy(target, tmp_path / "venv2")
    assert cache.fill(second, None) == (2, 0)
    linked = Path(importlib.util.cache_from_source(str(second / "pkg" / "__init__.py")))
    assert linked.stat().st_ino == borrowed.stat().st_ino
    # A link moves an entry's ctime, so entries a reproduction linked after a cutoff survive a prune at it.
    cutoff = max(entry.stat().st_ctime for entry in cache.root.glob("??/*.pyc")) + 0.001
    time.sleep(0.02)
    assert cache.fill(_linked_copy(target, tmp_path / "venv3"), None) == (2, 0)
    assert cache.prune(used_before=cutoff) == 0
    # Entries unused for STALE_DAYS go, at most once a day; venvs keep the files they linked.
    later = time.time() + STALE_DAYS * 86_400 + 60
    assert cache.prune_daily(now=later) == 2
    assert not list(cache.root.glob("??/*.pyc"))
    assert linked.read_bytes()
    assert cache.harvest(target) == 2  # venv1 still holds both .pyc files: harvested again
    assert cache.prune_daily(now=later + 3600) == 0  # pruned less than a day ago


def _linked_copy(site: Path, to: Path) -> Path:
    """Another venv whose sources are hard links to the same files, as uv makes them (no byte code)."""
    for source in site.rglob("*"):
        if source.is_file() and "__pycache__" not in source.parts:
            (to / source.relative_to(site)).parent.mkdir(parents=True, exist_ok=True)
            os.link(source, to / source.relative_to(site))
    return to
