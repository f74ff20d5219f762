"""Unified versions, lineage written by capture, REFs, and reproduction of a data version: on a real project (git,
DVC, MLflow on SQLite) with the metadata store on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import reprise
from reprise.config import Settings, load_settings
from reprise.errors import LineageError, NotFoundError, VersioningError
from reprise.reproduce.targets import TargetReproduction, reproduce_target
from reprise.store.db import open_store
from reprise.store.lineage import walk
from reprise.versioning.lineage import impact, show_lineage
from reprise.versioning.refs import resolve_ref
from reprise.versioning.unified import create_version, get_version, list_versions

_SCRIPT = """\
import csv, pathlib, reprise
rows = list(csv.DictReader(open("data/table.csv")))
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/summary.txt").write_text(f"rows: {len(rows)}\\n")
with reprise.start_run() as run:
    run.log_metrics({"rows": float(len(rows)), "total": float(sum(int(r["a"]) for r in rows))})
"""


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path
) -> tuple[Settings, str]:
    """A project with data version ``table@v1`` and a clean captured run that read it and wrote ``out/summary.txt``.

    Built once per store backend: each test below uses its own version names, so they share it.
    """
    from reprise.project import init_project

    tmp_project = tmp_path_factory.mktemp(f"versioning-{request.param}") / "project"
    init_project(tmp_project)
    shutil.copyfile(mlflow_db_template, tmp_project / ".reprise" / "mlflow.db")
    subprocess.run(["git", "add", "-A"], cwd=tmp_project, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=tmp_project, check=True)
    environ = (
        {} if request.param == "sqlite" else {"REPRISE_STORE_URI": request.getfixturevalue("postgres_databases")()}
    )
    settings = load_settings(tmp_project, environ=environ)
    (tmp_project / "data").mkdir()
    (tmp_project / "data" / "table.csv").write_text("a,b\n1,2\n3,4\n")
    version = reprise.version_data(tmp_project / "data" / "table.csv", version_name="table@v1", settings=settings)
    assert version.git_commit  # the version commits its .dvc file
    (tmp_project / "train.py").write_text(_SCRIPT)
    with (tmp_project / ".gitignore").open("a") as ignore:
        ignore.write("/out\n")
    subprocess.run(["git", "add", "train.py", ".gitignore"], cwd=tmp_project, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "train"], cwd=tmp_project, check=True)
    done = subprocess.run(
        [sys.executable, "-m", "reprise", "run", "--json", "-i", "data", "-o", "out", "--", sys.executable, "train.py"],
        cwd=tmp_project,
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return settings, json.loads(done.stdout)["run_id"]


def test_capture_links_the_commit_the_data_version_and_the_files_the_run_wrote(project: tuple[Settings, str]) -> None:
    settings, run_id = project
    engine = open_store(settings)
    upstream = {reached.ref: reached.kind for reached in walk(engine, f"run:{run_id}", "up")}
    assert upstream["data:table@v1"] == "data"
    assert "commit" in upstream.values()
    downstream = [reached for reached in walk(engine, f"run:{run_id}", "down")]
    assert "artifact" in {reached.kind for reached in downstream}
    assert f"run:{run_id}" in impact("data:table@v1", settings=settings).runs


def test_a_unified_version_has_a_stable_identity_digest_and_refuses_a_dirty_run(
    project: tuple[Settings, str],
) -> None:
    settings, run_id = project
    first = create_version("v1", runs=[run_id], settings=settings)
    second = create_version("v1-again", runs=[run_id], settings=settings)
    assert first.digest == second.digest
    assert second.same_as == ("v1",)
    assert [data.name for data in first.data] == ["table@v1"]  # found upstream of the run in lineage
    assert first.patch_digests == ()
    assert get_version("version:v1", settings=settings).digest == first.digest
    names = [version.name for version in list_versions(settings=settings)]
    assert names.index("v1") < names.index("v1-again")
    with pytest.raises(VersioningError, match="already taken"):
        create_version("v1", runs=[run_id], settings=settings)
    assert {"version:v1", "version:v1-again"} <= set(impact("data:table@v1", settings=settings).versions)

    (settings.project_dir / "notes.py").write_text("print('uncommitted')\n")
    try:
        with reprise.start_run("dirty", settings=settings) as dirty:
            pass
    finally:
        (settings.project_dir / "notes.py").unlink()
    with pytest.raises(VersioningError, match="uncommitted changes"):
        create_version("v2", runs=[dirty.run_id], settings=settings)
    allowed = create_version("v2", runs=[dirty.run_id], allow_dirty=True, settings=settings)
    assert len(allowed.patch_digests) == 1
    assert allowed.digest != first.digest


def test_refs_have_one_spelling(project: tuple[Settings, str]) -> None:
    settings, run_id = project
    assert resolve_ref(run_id) == resolve_ref(f"runs:/{run_id}/model") == f"run:{run_id}"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=settings.project_dir, capture_output=True, text=True, check=True
    )
    assert resolve_ref(f"commit:{head.stdout[:8]}", settings=settings) == f"commit:{head.stdout.strip()}"
    for bad in ("nothing", "kind:x", "data:"):
        with pytest.raises(LineageError):
            resolve_ref(bad)
    with pytest.raises(NotFoundError):
        show_lineage("data:no-such-version", settings=settings)


def test_a_data_version_reproduces_and_its_verdict_shows_in_lineage(project: tuple[Settings, str]) -> None:
    settings, _ = project
    result = reproduce_target("data:table@v1", settings=settings)
    assert isinstance(result, TargetReproduction)
    assert result.verdict.value == "identical"
    assert [component.ref for component in result.components] == ["data:table@v1"]
    view = show_lineage("data:table@v1", depth=1, settings=settings)
    assert view.nodes[0].last_reproduction is not None
    assert view.nodes[0].last_reproduction.startswith("identical at ")
    mermaid = view.to_mermaid()
    assert mermaid.startswith("flowchart LR") and "-->|used|" in mermaid
    page = view.to_html()
    assert "data:table@v1" in page and "http" not in page.replace('lang="en"', "")


def test_a_unified_version_reproduces_run_by_run(project: tuple[Settings, str]) -> None:
    settings, run_id = project
    create_version("v-repro", runs=[run_id], settings=settings)
    result = reproduce_target("version:v-repro", settings=settings, in_place=True)
    assert isinstance(result, TargetReproduction)
    assert result.verdict.value == "identical", result.components
    assert [component.ref for component in result.components] == [f"run:{run_id}"]
    assert result.reproductions[0].comparison.evidence["metric"] == 2
    view = show_lineage("version:v-repro", direction="up", depth=1, settings=settings)
    assert view.nodes[0].last_reproduction is not None
    assert view.nodes[0].last_reproduction.startswith("identical at ")
