"""The determinism audit on real runs: a RandomForest predicting on two threads is caught, a seeded script is clean,
and what a script logs through reprise.start_run or plain MLflow (metrics, predictions, child runs) is audited."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from reprise.config import load_settings
from reprise.reproduce.audit import audit_command

RANDOM_FOREST = """\
import os
from pathlib import Path

import mlflow
import numpy as np
from sklearn.datasets import make_regression
from sklearn.ensemble import RandomForestRegressor

import reprise

seed = int(os.environ["REPRISE_SEED"])
X, y = make_regression(n_samples=2000, n_features=10, noise=5.0, random_state=seed)
model = RandomForestRegressor(n_estimators=100, max_depth=8, random_state=seed, n_jobs=2).fit(X, y)
parallel = model.predict(X)  # sums the trees in thread completion order
serial = model.set_params(n_jobs=1).predict(X)
Path("preds").mkdir(exist_ok=True)
np.save("preds/parallel.npy", parallel)
np.save("preds/serial.npy", serial)
with mlflow.start_run():
    mlflow.log_metrics({"rmse_serial": float(np.sqrt(np.mean((serial - y) ** 2)))})
    reprise.log_predictions(parallel)
"""

#: A script that captures itself with reprise.start_run (joining the audit's `reprise run`), logs metrics both ways
#: and predictions, makes a child run (its generated name differs every time), and draws its row order from a helper
#: that never seeds NumPy's global generator.
JOINED = """\
import mlflow
import reprise
from shuffle import order

rows = order(200)  # before start_run: NumPy's global generator is not seeded yet
with reprise.start_run(params={"rows": 200}) as run:
    run.log_metrics({"rows": float(len(rows))})
    mlflow.log_metrics({"sum": float(rows.sum())})
    run.log_predictions(rows.astype(float))
    with reprise.start_run(nested=True) as head:
        head.log_metrics({"size": 10.0})
        head.log_predictions(rows[:10].astype(float))
"""

SHUFFLE = '''\
"""Row order for the split; not np.random.permutation(n_jobs=2): a docstring is no suspect."""
import numpy as np


def order(n):
    return np.random.permutation(n)
'''

SEEDED = """\
import json, os
from pathlib import Path
import numpy as np

rng = np.random.default_rng(int(os.environ["REPRISE_SEED"]))
Path("out").mkdir(exist_ok=True)
Path("out/draws.json").write_text(json.dumps(rng.random(5).tolist()))
"""


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``python`` in the audited commands is this interpreter."""
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))


@pytest.mark.usefixtures("on_path")
def test_random_forest_predicting_on_threads_is_caught_and_named(tmp_project: Path) -> None:
    (tmp_project / "rf.py").write_text(RANDOM_FOREST)
    report = audit_command(["python", "rf.py"], runs=2, settings=load_settings(tmp_project))
    assert not report.clean
    outputs = {output.path: output for output in report.outputs}
    parallel = outputs["preds/parallel.npy"]
    assert not parallel.consistent
    assert parallel.detail is not None and "max |Δ|" in parallel.detail
    max_delta = float(parallel.detail.rsplit("max |Δ| ", 1)[1].rstrip(")"))
    assert 0 < max_delta < 1e-9  # round-off, not a different model
    assert outputs["preds/serial.npy"].consistent
    assert not outputs["predictions of audited"].consistent
    metrics = {metric.name: metric for metric in report.metrics}
    assert metrics["audited/rmse_serial"].consistent
    assert any(hint.startswith("rf.py:13: parallel work (n_jobs > 1)") for hint in report.hints)
    assert len(report.run_ids) == 2


@pytest.mark.usefixtures("on_path")
def test_a_seeded_script_audits_clean(tmp_project: Path) -> None:
    (tmp_project / "seeded.py").write_text(SEEDED)
    report = audit_command(["python", "seeded.py"], runs=2, outputs=["out"], settings=load_settings(tmp_project))
    assert report.clean, report.nondeterministic_outputs
    assert [output.path for output in report.outputs] == ["out/draws.json"]
    assert report.hints == ()


@pytest.mark.usefixtures("on_path")
def test_metrics_and_predictions_of_a_script_using_start_run_are_audited_and_the_unseeded_line_named(
    tmp_project: Path,
) -> None:
    (tmp_project / "train.py").write_text(JOINED)
    (tmp_project / "shuffle.py").write_text(SHUFFLE)
    report = audit_command(["python", "train.py"], runs=2, settings=load_settings(tmp_project))
    assert not report.clean
    metrics = {metric.name: metric for metric in report.metrics}
    assert set(metrics) == {"audited/rows", "audited/sum", "audited/run 1/size"}  # the child labelled by its place
    assert metrics["audited/rows"].values == (200.0, 200.0) and metrics["audited/rows"].consistent
    assert metrics["audited/sum"].consistent  # a sum does not depend on the order
    assert metrics["audited/run 1/size"].values == (10.0, 10.0)
    outputs = {output.path: output for output in report.outputs}
    for name in ("predictions of audited", "predictions of audited/run 1"):
        assert not outputs[name].consistent and None not in outputs[name].sha256, name
    assert all(len(ids) == 2 for ids in report.run_ids)  # reprise run's run and the child
    assert report.hints == (
        "shuffle.py:6: NumPy's global generator, never seeded in this file: return np.random.permutation(n)",
    )


def test_an_audit_with_nothing_to_compare_is_unverified_not_clean(tmp_project: Path) -> None:
    report = audit_command(["true"], runs=2, settings=load_settings(tmp_project))
    assert (report.outputs, report.metrics) == ((), ())
    assert report.verdict == "unverified" and not report.clean
    assert report.headline.startswith("unverified: nothing to compare in 2 runs")


def test_an_audit_needs_two_runs(tmp_project: Path) -> None:
    from reprise.errors import ConfigError

    with pytest.raises(ConfigError, match="at least 2 runs"):
        audit_command(["true"], runs=1, settings=load_settings(tmp_project))
