"""``reprise reproduce``, ``validate`` and ``audit`` as a user types them, on a small DVC project with seeded runs.

The project: ``data/numbers.csv`` tracked by DVC, a seeded ``train.py`` (bootstrap least squares; logs metrics and
predictions, writes ``out/result.json`` naming its own run id), and an unseeded ``noisy.py`` as the DVC stage
``noise``. Two runs are captured once per module: one from a clean tree, one from a dirty tree (an uncommitted
change to ``train.py`` and an untracked helper module).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from mlflow import MlflowClient

if TYPE_CHECKING:
    from conftest import Cli

_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "GIT_AUTHOR_NAME": "Reprise Tests",
    "GIT_AUTHOR_EMAIL": "tests@reprise.invalid",
    "GIT_COMMITTER_NAME": "Reprise Tests",
    "GIT_COMMITTER_EMAIL": "tests@reprise.invalid",
    # `python` in a recorded command is this interpreter at capture, the reproduction venv's at replay.
    "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
}

TRAIN = """\
import importlib.metadata, json, os
from pathlib import Path

import mlflow
import numpy as np

import reprise

SCALE = 1.0
data = np.loadtxt("data/numbers.csv", delimiter=",")
rng = np.random.default_rng(int(os.environ["REPRISE_SEED"]))
rows = rng.choice(len(data), size=len(data), replace=True)
coef, *_ = np.linalg.lstsq(data[rows, :2], data[rows, 2] * SCALE, rcond=None)
predictions = data[:, :2] @ coef
rmse = float(np.sqrt(np.mean((predictions - data[:, 2] * SCALE) ** 2)))
# A library whose version changes a result (as a changed default would): six's patch level.
six_patch = float(importlib.metadata.version("six").split(".")[-1])
Path("out").mkdir(exist_ok=True)
Path("out/result.json").write_text(json.dumps({"coef": coef.tolist(), "run": os.environ["MLFLOW_RUN_ID"]}))
with mlflow.start_run():
    mlflow.log_metrics({"rmse": rmse, "coef0": float(coef[0]), "six_patch": six_patch})
    reprise.log_predictions(predictions)
"""

NOISY = """\
import json
from pathlib import Path

import mlflow
import numpy as np

rng = np.random.default_rng()
value = float(rng.random())
Path("noise").mkdir(exist_ok=True)
Path("noise/value.json").write_text(json.dumps({"value": value}))
with mlflow.start_run():
    mlflow.log_metrics({"value": value})
"""

DVC_YAML = """\
stages:
  noise:
    cmd: reprise run --name noise -o noise/value.json -- python noisy.py
    deps: [noisy.py]
    outs:
      - noise/value.json:
          cache: false
"""


@dataclass(frozen=True)
class Project:
    root: Path
    clean_run: str
    dirty_run: str


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env={**os.environ, **_ENV})


def _dvc(root: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **_ENV},
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _write_data(root: Path, seed: int) -> None:
    import numpy as np

    rows = np.random.default_rng(seed).normal(size=(200, 3))
    (root / "data").mkdir(exist_ok=True)
    np.savetxt(root / "data" / "numbers.csv", rows, delimiter=",", fmt="%.10f")


def _new_project(root: Path, template: Path) -> Path:
    from reprise.project import init_project

    init_project(root)
    shutil.copyfile(template, root / ".reprise" / "mlflow.db")
    _write_data(root, 0)
    _dvc(root, "add", "-q", "data/numbers.csv")
    (root / "train.py").write_text(TRAIN)
    (root / ".gitignore").write_text((root / ".gitignore").read_text() + "/out/\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "project")
    return root


def _capture(cli: Cli, root: Path, *command: str, inputs: tuple[str, ...] = ("data/numbers.csv",)) -> str:
    flags = [arg for path in inputs for arg in ("-i", path)]
    done = cli("run", "--json", *flags, "-o", "out", "--", *command, cwd=root, env=_ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    return str(json.loads(done.stdout[done.stdout.rindex('{\n  "data_digest"') :])["run_id"])


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(done.stdout[done.stdout.index("{\n") :])
    return data


def _client(root: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{root / '.reprise' / 'mlflow.db'}")


@pytest.fixture(scope="module")
def project(cli: Cli, tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Project:
    root = _new_project(tmp_path_factory.mktemp("reproduce") / "project", mlflow_db_template)
    clean = _capture(cli, root, "python", "train.py")
    (root / "train.py").write_text(TRAIN.replace("SCALE = 1.0", "from helper import SCALE"))
    (root / "helper.py").write_text("SCALE = 2.0\n")  # untracked: it travels in the patch too
    dirty = _capture(cli, root, "python", "train.py")
    _git(root, "checkout", "--", "train.py")
    (root / "helper.py").unlink()
    (root / "noisy.py").write_text(NOISY)
    (root / "dvc.yaml").write_text(DVC_YAML)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "noise stage")
    return Project(root=root, clean_run=clean, dirty_run=dirty)


@pytest.fixture(scope="module")
def identical(cli: Cli, project: Project, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The dirty run reproduced in isolation: worktree, patch, data from the DVC cache, fresh venv."""
    reports = tmp_path_factory.mktemp("reports")
    html = reports / "reproduction.html"
    done = cli(
        "reproduce", project.dirty_run, "--json", "-q", "--html", str(html), "--report", str(reports / "r.json"),
        cwd=project.root, env=_ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.rstrip().splitlines()[-1] == "identical (3 metrics, 1 output, 1 prediction set compared)"
    return _json(done), html


def test_a_run_from_a_dirty_tree_reproduces_identically_in_isolation(
    identical: tuple[dict[str, Any], Path], project: Project
) -> None:
    result, _ = identical
    assert result["verdict"] == "identical"
    assert result["mode"] == "isolated"
    assert result["patch_applied"] is True
    assert result["environment"]["pins"] > 100
    assert result["data"] == {**result["data"], "files": 1, "in_checkout": 0, "from_cache": 1, "verified": True}
    metrics = {m["name"]: m["status"] for m in result["comparison"]["metrics"]}
    assert metrics == {"coef0": "identical", "rmse": "identical", "six_patch": "identical"}
    assert result["comparison"]["predictions"]["status"] == "identical"
    assert result["comparison"]["outputs"][0]["status"] == "equivalent"  # only its own run id differs
    client = _client(project.root)
    dirty, clean = client.get_run(project.dirty_run).data, client.get_run(project.clean_run).data
    assert dirty.tags["reprise.git_dirty"] == "true"
    reproduced = {m["name"]: m["reproduced"] for m in result["comparison"]["metrics"]}
    assert reproduced["rmse"] == dirty.metrics["rmse"] != clean.metrics["rmse"]  # without the patch: different
    new_run = result["reproduction_run_id"]
    assert dirty.tags["reprise.last_reproduction"] == f"{new_run}:identical"
    new_tags = client.get_run(new_run).data.tags
    assert new_tags["reprise.reproduction_of"] == project.dirty_run
    assert new_tags["mlflow.parentRunId"] == result["parent_run_id"]
    artifacts = {item.path for item in client.list_artifacts(new_run, "reprise")}
    assert {"reprise/reproduction.json", "reprise/reproduction.html", "reprise/record.json"} <= artifacts
    record = json.loads(Path(client.download_artifacts(new_run, "reprise/record.json")).read_text())
    assert record["environment"]["python"]["executable"].endswith("/venv/bin/python")  # ran in the fresh venv


def test_another_package_version_gives_a_verdict_naming_it_first(cli: Cli, project: Project, tmp_path: Path) -> None:
    wheel = _six_wheel(tmp_path, "1.17.1")
    done = cli(
        "reproduce", project.clean_run, "--json", "-q", "--with", f"six @ {wheel.as_uri()}", cwd=project.root, env=_ENV
    )
    assert done.returncode == 1, done.stderr[-3000:]
    result = _json(done)
    assert result["verdict"] == "different"
    assert not result["nondeterministic"]
    assert result["environment"]["overrides"] == [f"six @ {wheel.as_uri()}"]
    first = result["explanation"]["causes"][0]
    assert first["kind"] == "packages"
    assert first["title"] == "package six 1.17.0 -> 1.17.1"
    assert any(line.startswith("re-run: six @ file://") for line in first["evidence"])  # what was installed
    deltas = {m["name"]: m for m in result["comparison"]["metrics"]}
    assert deltas["six_patch"]["status"] == "different"
    assert deltas["rmse"]["status"] == "identical"
    assert first["evidence"][0] == "asked for by --with (a what-if, not a drift)"
    assert f"different with six @ {wheel.as_uri()} (what-if) (" in done.stderr
    assert "compared): package six 1.17.0 -> 1.17.1" in done.stderr


def test_the_audit_flags_the_unseeded_stage_and_reproduce_calls_it_nondeterministic(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    html = tmp_path / "audit.html"
    done = cli("audit", "noise", "--json", "-q", "--html", str(html), cwd=project.root, env=_ENV)
    assert done.returncode == 1, done.stderr[-3000:]
    audit = _json(done)
    assert audit["mode"] == "stages" and not audit["clean"]
    flagged = {o["path"]: o for o in audit["outputs"] if not o["consistent"]}
    assert flagged["noise/value.json"]["stage"] == "noise"
    assert "differs at value" in flagged["noise/value.json"]["detail"]
    metrics = {m["name"]: m for m in audit["metrics"]}
    assert not metrics["noise/value"]["consistent"]
    assert any(hint.startswith("noisy.py:7: a NumPy Generator created without a seed") for hint in audit["hints"])
    assert "NONDETERMINISTIC" in html.read_text()
    noisy_run = audit["run_ids"][-1][0]
    done = cli("reproduce", noisy_run, "--in-place", "--json", "-q", cwd=project.root, env=_ENV)
    assert done.returncode == 1, done.stderr[-3000:]
    result = _json(done)
    assert result["verdict"] == "different"
    assert result["nondeterministic"] is True
    assert result["explanation"]["causes"][0]["kind"] == "nondeterminism"
    assert "different (nondeterministic)" in done.stderr


def test_a_data_file_changed_after_capture_stops_the_reproduction_naming_it(cli: Cli, project: Project) -> None:
    root, data = project.root, project.root / "data" / "numbers.csv"
    recorded = data.read_bytes()
    cached = root / ".dvc" / "cache" / "files" / "md5" / hashlib.md5(recorded).hexdigest()[:2]
    cached /= hashlib.md5(recorded).hexdigest()[2:]
    try:
        _write_data(root, 1)  # modified in place after the run
        in_place = cli("reproduce", project.clean_run, "--in-place", cwd=root, env=_ENV)
        assert in_place.returncode == 1
        assert "differ from its record: changed: data/numbers.csv" in in_place.stderr
        assert "Traceback" not in in_place.stderr
        _dvc(root, "add", "-q", "data/numbers.csv")
        _dvc(root, "gc", "--workspace", "--force", "-q")  # the recorded bytes are now gone from the cache
        assert not cached.exists()
        isolated = cli("reproduce", project.clean_run, cwd=root, env=_ENV)
        assert isolated.returncode == 1
        error = next(line for line in isolated.stderr.splitlines() if line.startswith("error:"))
        assert f"cannot restore the recorded inputs of run {project.clean_run}: data/numbers.csv" in error
        assert "the project's copy has changed since the run" in error
        assert "venv" not in isolated.stderr  # stopped before building an environment
    finally:  # put the recorded data back for the other tests
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(recorded)
        data.write_bytes(recorded)
        _git(root, "checkout", "--", "data/numbers.csv.dvc")


def test_validate_exit_codes(cli: Cli, project: Project, tmp_path: Path) -> None:
    reference = tmp_path / "reference.json"
    saved = cli("validate", "--save-reference", str(reference), "--run", project.clean_run, cwd=project.root, env=_ENV)
    assert saved.returncode == 0, saved.stderr
    data = json.loads(reference.read_text())
    assert data["metrics"]["rmse"] > 0 and len(data["predictions"]["indices"]) == 200
    same = cli(
        "validate", "--run", project.clean_run, "--reference-metrics-file", str(reference), cwd=project.root, env=_ENV
    )
    assert same.returncode == 0, same.stderr
    assert "within tolerance" in same.stderr
    other = cli(
        "validate", "--run", project.dirty_run, "--reference-metrics-file", str(reference), "--json", "--html",
        str(tmp_path / "v.html"), cwd=project.root, env=_ENV,
    )  # fmt: skip
    assert other.returncode == 1, other.stderr
    report = _json(other)
    assert not report["passed"]
    assert {m["name"] for m in report["metrics"] if m["status"] == "different"} >= {"rmse", "coef0"}
    assert report["predictions"]["status"] == "different"
    assert "FAILED" in (tmp_path / "v.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reference-metrics-file", "missing.json"], "reference file missing.json does not exist"),
        (["--reference-metrics-file", "r.json", "--reference-run-id", "0" * 32], "give exactly one reference"),
        (["--reference-run-id", "0" * 32], "no run 00000000000000000000000000000000"),
    ],
    ids=["missing-file", "two-references", "unknown-run"],
)
def test_validate_bad_input_exits_2_with_one_line(cli: Cli, project: Project, args: list[str], message: str) -> None:
    done = cli("validate", "--run", project.clean_run, *args, cwd=project.root, env=_ENV)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_the_html_report_renders_in_headless_chromium(
    identical: tuple[dict[str, Any], Path], tmp_path: Path, chromium: str
) -> None:
    _, html = identical
    page = html.read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page
    home, profile, shot = tmp_path / "home", tmp_path / "profile", tmp_path / "shot.png"
    home.mkdir()
    done = subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1280,900", "--virtual-time-budget=5000",
            f"--screenshot={shot}", html.as_uri(),
        ],
        env={**os.environ, "HOME": str(home)}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 900)
        red, green, blue = image.convert("RGB").getpixel((640, 8))  # the verdict header, first thing on the page
    assert (red, green, blue) == (0x1A, 0x7F, 0x37)  # identical: green


def _six_wheel(folder: Path, version: str) -> Path:
    """A wheel of six's own source under another version number: a package version the cache has not got."""
    import six

    source = Path(six.__file__).read_bytes()
    info = f"six-{version}.dist-info"
    files = {
        "six.py": source,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: six\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: reprise-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for name, data in files.items()
    ]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = folder / f"six-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel
