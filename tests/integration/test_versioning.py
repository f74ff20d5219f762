"""Unified versions, lineage written by capture, REFs, and reproduction of a data version: on a real project (git,
DVC, MLflow on SQLite) with the metadata store on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import subprocess
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


@pytest.fixture
def project(tmp_project: Path, store_url: str) -> tuple[Settings, str]:
    """A project with data version ``table@v1`` and a clean captured run that read it and wrote ``out/summary.txt``."""
    settings = load_settings(tmp_project, environ={"REPRISE_STORE_URI": store_url})
    (tmp_project / "data").mkdir()
    (tmp_project / "data" / "table.csv").write_text("a,b\n1,2\n3,4\n")
    version = reprise.version_data(tmp_project / "data" / "table.csv", version_name="table@v1", settings=settings)
    assert version.git_commit  # the version commits its .dvc file: the tree stays clean
    with reprise.start_run(
        "train", inputs=[tmp_project / "data"], outputs=[tmp_project / "out"], settings=settings
    ) as run:
        (tmp_project / "out").mkdir()
        (tmp_project / "out" / "summary.txt").write_text("rows: 2\n")
        run.log_metrics({"rows": 2.0})
    return settings, run.run_id


def test_capture_links_the_commit_the_data_version_and_the_files_the_run_wrote(project: tuple[Settings, str]) -> None:
    settings, run_id = project
    engine = open_store(settings)
    upstream = {reached.ref: reached.kind for reached in walk(engine, f"run:{run_id}", "up")}
    assert upstream["data:table@v1"] == "data"
    assert "commit" in upstream.values()
    downstream = [reached for reached in walk(engine, f"run:{run_id}", "down")]
    assert [reached.kind for reached in downstream] == ["artifact"]
    assert impact("data:table@v1", settings=settings).runs == (f"run:{run_id}",)


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
    assert [version.name for version in list_versions(settings=settings)] == ["v1", "v1-again"]
    with pytest.raises(VersioningError, match="already taken"):
        create_version("v1", runs=[run_id], settings=settings)
    assert impact("data:table@v1", settings=settings).versions == ("version:v1", "version:v1-again")

    (settings.project_dir / "notes.py").write_text("print('uncommitted')\n")
    with reprise.start_run("dirty", settings=settings) as dirty:
        pass
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
