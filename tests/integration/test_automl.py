"""Constrained AutoML against real components: MLflow SQLite store, skops artifacts loaded the way serve loads them,
the registry, Optuna. Data is generated here; trial counts and timed rows are kept small."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reprise.automl.checks import check_constraints
from reprise.automl.evaluate import split_data
from reprise.automl.leakage import screen_leaks
from reprise.automl.measure import measure_folder
from reprise.automl.presets import resolve_constraints
from reprise.automl.search import automl
from reprise.config import load_settings

#: Small, fast searches: two cheap families, two folds, few timed rows, the native form only (the ONNX form has its
#: own tests); latency far from its limit so host noise cannot flip a trial's feasibility (the edge test below uses
#: the real limits).
_FAST = """
families = ["logistic_regression", "decision_tree"]
cv_folds = 2
latency_rows = 8
warmup_rows = 2
max_latency_ms = 10000.0
forms = ["native"]
"""


def _maintenance(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Sensor readings and a failure label, with planted leaks: an id, a flag equal to the target, and three alarm
    flags that each mark a third of the failures (so only their OR gives the target away)."""
    rng = np.random.default_rng(seed)
    sensors = rng.normal(size=(rows, 5))
    logit = 1.8 * sensors[:, 0] - 1.2 * sensors[:, 1] + 0.8 * sensors[:, 2] * sensors[:, 3] - 1.5
    failure = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(sensors, columns=[f"sensor_{i}" for i in range(5)])
    frame["site"] = rng.choice(["north", "south", "east"], size=rows)
    frame["machine_id"] = [f"M-{i:05d}" for i in range(rows)]
    frame["ticket_closed"] = failure
    share = rng.integers(0, 3, size=rows)
    for alarm in range(3):
        frame[f"alarm_{alarm}"] = ((failure == 1) & (share == alarm)).astype(int)
    frame["failure"] = failure
    return frame


def _write(project: Path, frame: pd.DataFrame, constraints: str = _FAST) -> tuple[Path, Path]:
    data = project / "sensors.csv"
    frame.to_csv(data, index=False)
    extra = project / "fast.toml"
    extra.write_text(constraints)
    return data, extra


def test_planted_leaks_are_excluded_and_reported_and_keep_overrides() -> None:
    frame = _maintenance()
    # A risk factor, not a leak: model B never failed here, and half the healthy machines are model B.
    healthy_b = np.random.default_rng(3).random(len(frame)) < 0.5
    frame["model"] = np.where((frame["failure"] == 0) & healthy_b, "B", "A")
    features, target = frame.drop(columns=["failure"]), frame["failure"]
    found = screen_leaks(features, target)
    assert len(found) == 3
    findings = {finding.kind: finding for finding in found}
    assert findings["identifier"].columns == ("machine_id",)
    assert findings["determining_value"].columns == ("ticket_closed",)
    assert set(findings["flag_group"].columns) == {"alarm_0", "alarm_1", "alarm_2"}
    assert "OR" in findings["flag_group"].detail
    assert not {*(f"sensor_{i}" for i in range(5)), "model", "site"} & {c for f in findings.values() for c in f.columns}
    kept = screen_leaks(features, target, keep=["ticket_closed"])
    assert [finding.kept for finding in kept if finding.columns == ("ticket_closed",)] == [True]
    assert all(not finding.kept for finding in kept if finding.columns != ("ticket_closed",))


def test_the_edge_preset_refuses_a_model_over_10_mb_or_50_ms_and_says_by_how_much(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from reprise.tracking.models import save_model

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(3000, 4)), columns=list("abcd"))
    noisy = rng.integers(0, 2, size=3000)  # noise: every tree grows to about one leaf per row
    constraints = resolve_constraints("predictive_maintenance", "edge")
    data = split_data(frame, noisy, constraints, seed=3)
    forest = RandomForestClassifier(n_estimators=90, n_jobs=2, random_state=0)
    big = Pipeline([("model", forest)]).fit(frame, noisy)
    folder = tmp_path / "model"
    save_model(big, frame.head(5), folder)  # what reprise.log_model would log
    quick = constraints.model_copy(update={"latency_rows": 10, "warmup_rows": 2})
    measured = measure_folder(folder, "explainable", data, quick, seed=3)
    checks = {check.name: check for check in check_constraints(measured, {}, constraints)}
    assert measured.size_bytes > 10_000_000
    assert not checks["size_mb"].ok
    over = measured.size_bytes / 1e6 - 10
    assert checks["size_mb"].describe() == f"size_mb {measured.size_mb:.4g} MB over the 10 MB limit by {over:.4g} MB"
    assert measured.host["cpu_count"] and measured.model_format == "skops"
    # A latency limit no single-row prediction can meet: refused with the overrun, and the timing stops early
    # (after the first check) since the model is clearly over it. A small model: the limit does the refusing.
    from sklearn.linear_model import LogisticRegression

    small = tmp_path / "small"
    save_model(Pipeline([("model", LogisticRegression())]).fit(frame, noisy), frame.head(5), small)
    strict = constraints.model_copy(update={"max_latency_ms": 1e-6, "latency_rows": 30, "warmup_rows": 2})
    slow = measure_folder(small, "glass_box", data, strict, seed=3)
    latency = {check.name: check for check in check_constraints(slow, {}, strict)}["latency_p95_ms"]
    assert not latency.ok
    assert latency.describe() == (
        f"latency_p95_ms {slow.latency_p95_ms:.4g} ms over the 1e-06 ms limit by {slow.latency_p95_ms - 1e-6:.4g} ms"
    )
    assert slow.stopped_early and slow.rows_timed == 25


def test_same_seed_same_trials_and_winner_with_1_and_2_workers_replay_exact_and_registered_figures_match(
    tmp_project: Path,
) -> None:
    from reprise.automl.replay import replay_trial
    from reprise.capture import layout
    from reprise.registry.catalog import list_versions
    from reprise.tracking.records import read_file, run_info

    data, extra = _write(tmp_project, _maintenance())
    settings = load_settings()
    common = {"use_case": "predictive_maintenance", "environment": "edge", "constraints_file": extra}
    first = automl(data, "failure", trials=5, batch=2, seed=11, workers=1, settings=settings, **common)
    second = automl(data, "failure", trials=5, batch=2, seed=11, workers=2, register=False, settings=settings, **common)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [t.metrics for t in first.trials] == [t.metrics for t in second.trials]
    assert first.winner.trial == second.winner.trial is not None
    assert {t.params["family"] for t in first.trials} == {"logistic_regression", "decision_tree"}

    # The leaks were excluded and recorded on the search's run, with the presets' sha256.
    search = json.loads(read_file(settings, first.run_id, layout.AUTOML_SEARCH) or b"{}")
    assert search["excluded"] == ["alarm_0", "alarm_1", "alarm_2", "machine_id", "ticket_closed"]
    assert [source["id"] for source in search["constraints"]["sources"]] == [
        "predictive_maintenance",
        "edge",
        str(extra),
    ]
    # One nested run per trial, with the trial's seed, per-fold metrics, figures and slack per constraint.
    trial_run = run_info(settings, first.trials[3].run_id)
    assert trial_run.parent_run_id == first.run_id
    assert trial_run.params["seed"] == str(first.trials[3].seed)
    assert {"fold_0_score", "fold_1_score", "latency_p95_ms", "size_bytes", "slack_size_mb", "feasible"} <= set(
        trial_run.metrics
    )

    replay = replay_trial(first.run_id, 4, settings=settings)
    assert replay.identical, replay.differences
    assert replay.replayed == first.trials[4].metrics

    # Registered with alias candidate; its figures are those of the logged artifact, and re-measuring the
    # registered version's files gives the same bytes.
    winner = first.winner
    assert winner.registered and winner.measurement is not None
    version = next(v for v in list_versions(winner.model_name or "", settings=settings) if v.version == winner.version)
    assert "candidate" in version.aliases
    assert version.metrics["size_bytes"] == winner.measurement.size_bytes
    report = json.loads(read_file(settings, winner.run_id or "", layout.CONSTRAINT_REPORT) or b"{}")
    assert report["feasible"] and report["measured"]["size_bytes"] == winner.measurement.size_bytes
    assert report["trial"] == winner.trial
    remeasured = _measure_registered(settings, winner.model_name or "", winner.version or 0)
    assert remeasured == winner.measurement.size_bytes


def _measure_registered(settings: object, name: str, version: int) -> int:
    """Bytes of the registered version's files, downloaded the way serve downloads them."""
    import tempfile

    from mlflow.artifacts import download_artifacts

    from reprise.automl.measure import folder_bytes
    from reprise.tracking._client import client_for

    uri = client_for(settings).get_model_version_download_uri(name, str(version))  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        local = download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=settings.tracking_uri)  # type: ignore[attr-defined]
        return folder_bytes(Path(local))


def test_nothing_registered_when_no_trial_fits_exits_3_and_lists_the_nearest_and_a_trial_replays_from_the_cli(
    tmp_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reprise.cli.main import main

    data, extra = _write(tmp_project, _maintenance(), _FAST + "max_size_mb = 0.001\n")
    args = ["automl", "run", str(data), "--target", "failure", "--constraints-file", str(extra), "--trials", "3"]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--json"])
    assert exited.value.code == 3
    result = json.loads(capsys.readouterr().out)
    assert not result["winner"]["registered"] and result["winner"]["reason"] == "no trial met every limit"
    assert sorted(item["trial"] for item in result["winner"]["nearest"]) == [0, 1, 2]
    assert all("over the 0.001 MB limit" in item["failures"] for item in result["winner"]["nearest"])
    with pytest.raises(SystemExit) as replayed:
        main(["automl", "replay", result["run_id"], "--trial", "2"])
    assert replayed.value.code == 0
    assert f"trial 2 of {result['run_id']}: " in capsys.readouterr().err


def test_a_configuration_that_cannot_fit_fails_alone_and_is_recorded(tmp_project: Path) -> None:
    frame = _maintenance()
    frame.loc[::7, "sensor_0"] = np.nan  # trees take missing values; logistic regression cannot
    data, extra = _write(tmp_project, frame)
    result = automl(data, "failure", constraints_file=extra, trials=2, seed=4, register=False)
    assert [(item["number"], item["params"]["family"]) for item in result.failed] == [(0, "logistic_regression")]
    assert "NaN" in result.failed[0]["error"]
    assert [(trial.number, trial.params["family"]) for trial in result.trials] == [(1, "decision_tree")]
    assert result.winner.trial == 1


def test_anomaly_detection_searches_without_labels(tmp_project: Path) -> None:
    rng = np.random.default_rng(2)
    normal = rng.normal(size=(300, 4))
    outliers = rng.normal(loc=5.0, size=(15, 4))
    frame = pd.DataFrame(np.vstack([normal, outliers]), columns=list("wxyz"))
    data, extra = _write(
        tmp_project,
        frame,
        "cv_folds = 2\nlatency_rows = 8\nwarmup_rows = 2\nmax_latency_ms = 10000.0\n",
    )
    result = automl(
        data,
        None,
        use_case="anomaly_detection",
        constraints_file=extra,
        trials=10,
        batch=2,
        time_budget=1e-9,  # spent before the first round: that round runs, no other
        seed=5,
        register=False,
    )
    assert result.stopped_by == "time_budget" and len(result.trials) == 2
    assert [t.params["family"] for t in result.trials[:2]] == ["isolation_forest", "local_outlier_factor"]
    for trial in result.trials:
        assert -1.0 <= trial.score <= 1.0  # stability: a rank correlation
        assert {check.name for check in trial.checks} >= {"false_positive_rate", "latency_p95_ms"}
    assert result.winner.trial is not None and result.winner.test_score is None


def test_an_unlabelled_search_picks_the_robust_zscore_on_heavy_tailed_sensors_and_serve_loads_it_without_pickle(
    tmp_project: Path,
) -> None:
    from reprise.registry.resolve import describe_version
    from reprise.tracking.serving import load_servable

    rng = np.random.default_rng(2)
    readings = np.vstack([rng.standard_t(3, size=(600, 4)), rng.normal(loc=5.0, size=(15, 4))])
    data, extra = _write(
        tmp_project,
        pd.DataFrame(readings, columns=list("wxyz")),
        "cv_folds = 2\nlatency_rows = 8\nwarmup_rows = 2\nmax_latency_ms = 10000.0\n",
    )
    settings = load_settings()
    result = automl(
        data, None, use_case="anomaly_detection", constraints_file=extra, trials=3, batch=3, seed=5, settings=settings
    )
    # Median and MAD barely move from one fold's rows to another's: its ranking is the most stable (seeds 5 to 7 all
    # pick it on these readings), and a pure function of the rows: no seed.
    families = [trial.params["family"] for trial in result.trials]
    assert families == ["isolation_forest", "local_outlier_factor", "robust_zscore"]  # the starters, in order
    best = result.best
    assert best is not None and best.params == {"family": "robust_zscore", "zs_aggregate": "max"}
    assert best.score == max(trial.score for trial in result.feasible)
    assert result.winner.trial == best.number and result.winner.registered

    version = describe_version(settings, result.winner.model_name or "", result.winner.version or 0)
    served = load_servable(settings, version, allow_pickle=False)
    served.close()  # its files: the model is in memory
    assert served.spec.model_format == "skops" and not served.spec.runs_code
    from reprise.automl.evaluate import fit_model
    from reprise.automl.search import load_search_data

    searched = load_search_data(data, None, (), result.constraints, 5)
    refit = fit_model(best.params, searched, searched.train, best.seed)
    answered = served.predict_rows(searched.features.to_dict(orient="records")).values
    assert answered == refit.predict(searched.features).tolist()
    assert answered[-15:].count(-1) >= 10  # most planted outliers flagged


def test_the_study_lives_in_the_projects_sqlite_file_or_beside_mlflow_in_the_teams_postgresql(
    tmp_project: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optuna

    from reprise.automl.executor import study_storage

    if store_url.startswith("postgresql"):
        import psycopg

        # The team's database also holds MLflow's tables and its Alembic revision: Optuna must not read it as its own.
        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
            conn.execute("INSERT INTO alembic_version VALUES ('mlflow-head')")
    monkeypatch.setenv("REPRISE_STORE_URI", store_url)
    data, extra = _write(tmp_project, _maintenance(rows=200))
    settings = load_settings()
    result = automl(data, "failure", constraints_file=extra, trials=2, batch=2, seed=3, register=False)
    with study_storage(settings) as storage:
        stored = optuna.load_study(study_name=f"reprise-automl-{result.run_id}", storage=storage).trials
    assert [trial.params for trial in stored] == [trial.params for trial in result.trials]
    assert [trial.value for trial in stored] == [trial.score for trial in result.trials]
    if store_url.startswith("postgresql"):
        with psycopg.connect(store_url) as conn:
            assert conn.execute("SELECT version_num FROM public.alembic_version").fetchall() == [("mlflow-head",)]
            assert conn.execute("SELECT count(*) FROM reprise_optuna.trials").fetchone() == (2,)
    else:
        assert (tmp_project / ".reprise" / "optuna.db").is_file()


def test_more_than_one_worker_without_dask_is_one_line_naming_the_extra(
    tmp_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from reprise.cli.main import main

    data, extra = _write(tmp_project, _maintenance(rows=200))
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if reprise[team] were not installed
    with pytest.raises(SystemExit) as exited:
        main(["automl", "run", str(data), "--target", "failure", "--constraints-file", str(extra), "--workers", "2"])
    assert exited.value.code == 1  # MissingExtraError's exit code
    err = capsys.readouterr().err
    assert "dask is needed here but is not installed" in err and "reprise[team]" in err
    assert "Traceback" not in err
