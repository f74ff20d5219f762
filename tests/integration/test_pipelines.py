"""Feature-pipeline versions on a real project (git, DVC, MLflow on SQLite), the store on SQLite and PostgreSQL.

Versions are identified by content; a fit is made once per data version, stored in MLflow in skops' format with its
sha256, and applied without refitting; a changed artifact is refused before it is loaded; lineage runs
``pipeline -> fit -> run``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pytest
import skops.io
from mlflow import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import reprise
from reprise.config import load_settings
from reprise.errors import DataError, HashMismatchError, NotFoundError, VersioningError
from reprise.store.db import open_store
from reprise.store.lineage import walk
from reprise.versioning.pipelines import list_pipeline_versions, show_pipeline

_STEPS = [{"name": "scale", "type": "sklearn.preprocessing.StandardScaler"}]


def _train(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"age": rng.normal(40, 9, rows).round(2), "income": rng.normal(3000, 700, rows).round(2)})


@pytest.fixture
def store(store_url: str, tmp_project: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The project's metadata store on each backend (``store_url`` from conftest: SQLite, a fresh PostgreSQL DB)."""
    monkeypatch.setenv("REPRISE_STORE_URI", store_url)
    return store_url


def _versioned_train(project: Path, name: str = "train-v1") -> pd.DataFrame:
    frame = _train()
    (project / "data").mkdir(exist_ok=True)
    frame.to_csv(project / "data" / "train.csv", index=False)
    reprise.version_data("data/train.csv", version_name=name)
    return pd.read_csv(project / "data" / "train.csv")


def _artifact_file(run_id: str, artifact_path: str) -> Path:
    settings = load_settings()
    root = MlflowClient(settings.tracking_uri).get_run(run_id).info.artifact_uri
    return Path(unquote(urlparse(root).path)) / artifact_path


def test_a_version_is_its_content_fitted_once_and_applied_without_refitting(store: str, tmp_project: Path) -> None:
    assert load_settings().store_uri == store
    train = _versioned_train(tmp_project)
    first = reprise.version_pipeline("prep", Pipeline([("scale", StandardScaler())]))
    assert (first.version, first.digest.startswith("sha256:")) == ("1.0.0", True)
    assert first.spec["type"] == "sklearn.pipeline.Pipeline"
    # The same content, written as declarative steps, is the same version.
    again = reprise.version_pipeline("prep", _STEPS)
    assert (again.version, again.digest, again.created_at) == (first.version, first.digest, first.created_at)
    assert reprise.version_pipeline("prep", _STEPS, version="v1.0.0+build.9").version == "1.0.0"
    # Other content under an existing number is refused; without a number it gets the next one.
    other = Pipeline([("scale", StandardScaler(with_std=False))])
    with pytest.raises(VersioningError, match=r"prep@1\.0\.0 already exists with other content") as refused:
        reprise.version_pipeline("prep", other, version="1.0.0")
    assert "1.0.1" in (refused.value.hint or "")
    assert reprise.version_pipeline("prep", other, bump="minor").version == "1.1.0"
    assert [v.version for v in list_pipeline_versions("prep")] == ["1.0.0", "1.1.0"]

    fit = reprise.fit_pipeline("prep@1.0.0", "train-v1")
    assert reprise.fit_pipeline("prep@1.0.0", "train-v1").fit_id == fit.fit_id  # fitted once
    assert [f.fit_id for f in show_pipeline("prep@1.0.0").fits] == [fit.fit_id]
    stored = _artifact_file(fit.run_id, fit.artifact_path).read_bytes()
    assert stored[:2] == b"PK"  # a skops zip file, not a pickle
    learned = skops.io.loads(stored, trusted=list(fit.trusted_types))
    np.testing.assert_allclose(learned.named_steps["scale"].mean_, train.mean().to_numpy())

    shifted = train + 100.0
    applied = reprise.apply_pipeline(shifted, "prep@1.0.0")
    reference = StandardScaler().fit(train)
    assert list(applied.columns) == ["age", "income"]
    np.testing.assert_allclose(applied.to_numpy(), reference.transform(shifted))
    assert applied["age"].mean() > 5  # a refit on the shifted data would centre it on 0
    reloaded = skops.io.loads(
        _artifact_file(fit.run_id, fit.artifact_path).read_bytes(), trusted=list(fit.trusted_types)
    )
    np.testing.assert_allclose(reloaded.named_steps["scale"].mean_, train.mean().to_numpy())  # nothing refitted

    with reprise.start_run(run_name="uses prep") as run:
        reprise.apply_pipeline(shifted.head(5), "prep@1.0.0", fit="train-v1")
    engine = open_store(load_settings())
    down = {reached.ref: reached.depth for reached in walk(engine, "pipeline:prep@1.0.0", "down")}
    assert down[f"fit:{fit.fit_id}"] == 1
    assert down[f"run:{run.run_id}"] == 2
    up = {reached.ref for reached in walk(engine, f"run:{run.run_id}", "up")}
    assert {f"fit:{fit.fit_id}", "pipeline:prep@1.0.0", "data:train-v1"} <= up


def test_a_tampered_fitted_artifact_is_refused_before_it_is_loaded(tmp_project: Path) -> None:
    train = _versioned_train(tmp_project)
    reprise.version_pipeline("prep", _STEPS, version="2.0.0")
    fit = reprise.fit_pipeline("prep@2.0.0", "train-v1")
    artifact = _artifact_file(fit.run_id, fit.artifact_path)
    # A valid skops file of another fit: loading it would work, so only the digest check can refuse it.
    artifact.write_bytes(skops.io.dumps(Pipeline([("scale", StandardScaler())]).fit(train * 2)))
    with pytest.raises(HashMismatchError, match=r"changed after it was stored, and was not loaded") as refused:
        reprise.apply_pipeline(train, "prep@2.0.0")
    assert fit.run_id in (refused.value.hint or "")


def test_a_column_transformer_round_trips_and_fits_only_the_bytes_of_its_data_version(tmp_project: Path) -> None:
    _versioned_train(tmp_project)
    columns = ColumnTransformer([("num", StandardScaler(), ["age"])], remainder="drop")
    made = reprise.version_pipeline("cols", columns, version="0.1.0-rc.1")
    assert made.spec["type"] == "sklearn.compose.ColumnTransformer"
    (tmp_project / "data" / "train.csv").write_text("age,income\n1,2\n")
    with pytest.raises(DataError, match="does not hold the bytes of data version train-v1") as refused:
        reprise.fit_pipeline("cols@0.1.0-rc.1", "train-v1")
    assert refused.value.hint == "reprise data checkout train-v1"
    reprise.checkout_data("train-v1", force=True)
    fit = reprise.fit_pipeline("cols@0.1.0-rc.1", "train-v1")
    out = reprise.apply_pipeline(pd.DataFrame({"age": [40.0], "income": [1.0]}), "cols@0.1.0-rc.1", fit=fit.fit_id)
    assert list(out.columns) == ["num__age"]
    with pytest.raises(NotFoundError, match=r"no pipeline version cols@9\.9\.9"):
        reprise.fit_pipeline("cols@9.9.9", "train-v1")
    with pytest.raises(NotFoundError, match="has no fit nope"):
        reprise.apply_pipeline(out, "cols@0.1.0-rc.1", fit="nope")
    with pytest.raises(VersioningError, match="not a pipeline version reference"):
        reprise.apply_pipeline(out, "cols")


def test_the_second_writer_of_a_version_or_fit_gets_the_first_ones_row(store_url: str) -> None:
    from datetime import UTC, datetime

    from reprise.store.pipelines import (
        PipelineFitRow,
        PipelineVersionRow,
        insert_pipeline_fit,
        insert_pipeline_version,
        list_pipeline_fits,
    )

    engine = open_store(store_url)
    now = datetime.now(UTC)

    def version(content: str) -> PipelineVersionRow:
        return PipelineVersionRow("prep", "1.0.0", 1, 0, 0, "", content, content, "a@h", now)

    def fit(fit_id: str, run_id: str) -> PipelineFitRow:
        return PipelineFitRow(
            fit_id, "prep", "1.0.0", "train-v1", run_id, "p.skops", "0" * 64, ["numpy.dtype"], "a@h", now
        )

    first = version("sha256:" + "1" * 64)
    assert insert_pipeline_version(engine, first, '{"a": 1}') == first
    # Another process versioned other content under the same number a moment earlier: its row comes back.
    assert insert_pipeline_version(engine, version("sha256:" + "2" * 64), '{"a": 2}').digest == first.digest
    made = insert_pipeline_fit(engine, fit("f1", "run1"))
    assert made.trusted_types == ["numpy.dtype"]
    assert made.created_at.tzinfo is not None
    assert insert_pipeline_fit(engine, fit("f2", "run2")).fit_id == "f1"
    assert [f.fit_id for f in list_pipeline_fits(engine, "prep")] == ["f1"]
    assert [r.ref for r in walk(engine, "fit:f1", "up")] == ["data:train-v1", "pipeline:prep@1.0.0"]
    assert walk(engine, "fit:f2", "up") == []  # the refused fit left nothing behind
