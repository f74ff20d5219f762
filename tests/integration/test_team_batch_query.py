"""``reprise reproduce --batch QUERY``: queries resolve to the targets they name, and those are re-verified on a Dask
cluster of real worker processes.

The project (real git, DVC and SQLite stores) holds one captured run that read ``data:table@v1``, registered twice
as ``clf`` (version 1 holds ``production``, version 2 ``staging``), the unified version ``bq-v1`` of ``clf/1``, and
the release ``bq@1.0.0`` of it, active in ``dev``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reprise.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from reprise.config import Settings

TRAIN = """\
import mlflow
import pandas as pd
import reprise
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

with reprise.start_run("train", inputs=["data"]) as run:
    rows = len(pd.read_csv("data/table.csv"))
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    run.log_metrics({"accuracy": float(model.score(X, y)), "rows": float(rows)})
    mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle", pip_requirements=["scikit-learn"])
print(run.run_id)
"""


@dataclass(frozen=True)
class Project:
    settings: Settings
    env: dict[str, str]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Iterator[Project]:
    import reprise
    from reprise.config import load_settings
    from reprise.versioning.promotion import promote_release
    from reprise.versioning.releases import create_release
    from reprise.versioning.unified import create_version

    root = tmp_path_factory.mktemp("batch-query") / "project"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("REPRISE_", "MLFLOW_"))},
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    reprise.init_project(root)
    shutil.copyfile(mlflow_db_template, root / ".reprise" / "mlflow.db")
    (root / "train.py").write_text(TRAIN)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=root, check=True)
    settings = load_settings(root)
    (root / "data").mkdir()
    (root / "data" / "table.csv").write_text("a,b\n1,2\n3,4\n")
    reprise.version_data(root / "data" / "table.csv", version_name="table@v1", settings=settings)
    done = subprocess.run(
        ["python", "train.py"], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.strip().splitlines()[-1]
    for number, alias in ((1, "production"), (2, "staging")):
        reprise.register_model(run_id, "clf", gates=[], settings=settings)
        reprise.set_model_alias("clf", alias, number, settings=settings)
    create_version("bq-v1", runs=[run_id], model="clf/1", settings=settings)
    create_release("bq", "1.0.0", from_version="bq-v1", sign=False, settings=settings)
    promote_release("bq@1.0.0", "dev", force=True, reason="not verified yet", settings=settings)
    yield Project(settings, env)


def test_each_query_selects_its_targets_each_once_and_a_target_selects_itself(project: Project) -> None:
    from reprise.reproduce.batch_query import select_targets

    settings = project.settings
    assert select_targets(["alias:production"], settings=settings) == ("model:clf/1",)
    assert select_targets(["alias:clf@*"], settings=settings) == ("model:clf/1", "model:clf/2")
    assert select_targets(["alias:*@staging"], settings=settings) == ("model:clf/2",)
    assert select_targets(["env:dev"], settings=settings) == ("release:bq@1.0.0",)
    assert select_targets(["env:*"], settings=settings) == ("release:bq@1.0.0",)
    # Downstream of the data: the release (which re-verifies version bq-v1 and model clf/1 in it) and clf/2.
    assert select_targets(["downstream:data:table@v1"], settings=settings) == ("model:clf/2", "release:bq@1.0.0")
    # Several queries: in order, each target once; a target stands for itself as written.
    assert select_targets(
        ["env:dev", "alias:clf@*", "models:/clf@production", "release:bq@1.0.0"], settings=settings
    ) == ("release:bq@1.0.0", "model:clf/1", "model:clf/2")


@pytest.mark.parametrize(
    ("query", "error", "words"),
    [
        ("alias:archived", NotFoundError, "no version of any registered model holds an alias matching 'archived'"),
        ("alias:other@production", NotFoundError, "a registered model matching 'other'"),
        ("env:staging", NotFoundError, "no release is active in staging"),
        ("env:qa", ConfigError, "'qa' is not an environment"),
        ("downstream:data:nothing@v9", NotFoundError, "lineage knows nothing of data:nothing@v9"),
        ("latest:clf", ConfigError, "'latest:clf' is not a batch query"),
        ("alias:clf@", ConfigError, "names no alias"),
    ],
    ids=["no-alias", "no-model", "no-release-there", "no-such-env", "unknown-in-lineage", "unknown-kind", "no-alias"],
)
def test_a_query_that_is_malformed_or_selects_nothing_is_refused_naming_it(
    project: Project, query: str, error: type[Exception], words: str
) -> None:
    from reprise.reproduce.batch_query import select_targets

    with pytest.raises(error) as caught:
        select_targets([query], settings=project.settings)
    assert words in str(caught.value)


def _reprise(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reprise", *args],
        cwd=project.settings.project_dir,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_command_refuses_a_bad_query_with_exit_2_and_an_empty_one_with_exit_3_before_any_worker(
    project: Project,
) -> None:
    bad = _reprise(project, "reproduce", "--batch", "latest:clf")
    assert bad.returncode == 2, bad.stderr
    assert bad.stdout == ""
    assert "'latest:clf' is not a batch query" in bad.stderr
    assert len([line for line in bad.stderr.splitlines() if line.strip()]) <= 2  # the error and its hint
    empty = _reprise(project, "team", "verify", "alias:archived", "--json")
    assert empty.returncode == 3, empty.stderr
    assert json.loads(empty.stdout)["error"]["code"] == "not-found"
    assert "selects nothing" in json.loads(empty.stdout)["error"]["message"]
    for done in (bad, empty):
        assert "Traceback" not in done.stderr


def test_a_batch_query_is_verified_on_two_dask_workers_one_verdict_per_target(project: Project) -> None:
    from reprise.store.db import open_store
    from reprise.store.reproductions import latest_reproductions

    done = _reprise(
        project, "reproduce", "--batch", "alias:staging", "--batch", "env:dev", "--workers", "2", "--in-place", "--json"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["queries"] == ["alias:staging", "env:dev"]
    assert [item["target"] for item in report["verdicts"]] == ["model:clf/2", "release:bq@1.0.0"]
    assert [item["verdict"] for item in report["verdicts"]] == ["identical"] * 2
    assert report["summary"] == {"identical": 2}
    assert report["workers"] == 2
    # Each verdict is kept like any reproduction's: the release's, and that of the model version in it (clf/1).
    latest = latest_reproductions(open_store(project.settings), ["release:bq@1.0.0", "model:clf/1", "model:clf/2"])
    assert {ref: row.verdict for ref, row in latest.items()} == {
        "release:bq@1.0.0": "identical",
        "model:clf/1": "identical",
        "model:clf/2": "identical",
    }
