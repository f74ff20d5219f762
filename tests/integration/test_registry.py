"""The registry lifecycle on a real MLflow SQLite store: register, gate, promote, history, compare, export, load.

One project with three captured training runs is built per module; each test registers them under its own model
name, so tests stay independent while the (slow) training happens once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

import reprise
from reprise.capture.record import RunRecord
from reprise.config import Settings, load_settings
from reprise.errors import ConfigError, GateFailedError, NotFoundError, RegistryError
from reprise.registry.catalog import list_models, list_versions
from reprise.registry.history import EVENTS_EXPERIMENT, Actor, aliases_at, read_history

# Not ours to fix: MLflow 3.17 compares an input example's columns with a range, which pandas 3.1 deprecates, and
# its first `import mlflow.pyfunc` warns about its own type hints (the message starts with ANSI colour codes).

SRC = Path(__file__).resolve().parents[2] / "src" / "reprise"
_GIT = ["git", "-c", "user.name=Reprise Tests", "-c", "user.email=tests@reprise.invalid"]


@dataclass(frozen=True)
class Trained:
    run_id: str
    c: float
    metrics: dict[str, float]


@dataclass(frozen=True)
class Project:
    root: Path
    settings: Settings
    runs: tuple[Trained, ...]  # weakest first
    features: list[str]

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.settings.tracking_uri)


def _data() -> tuple[object, object, object, object]:
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)


def _fit_and_log(c: float, columns: list[str] | None = None) -> dict[str, float]:
    """Fit a LogisticRegression in the active run, log it (signature, input example) and its metrics."""
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    X_train, X_test, y_train, y_test = _data()
    if columns is not None:
        X_train, X_test = X_train[columns], X_test[columns]
    model = LogisticRegression(C=c, max_iter=1000).fit(X_train, y_train)
    predicted = model.predict(X_test)
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro")),
        "log_loss": float(log_loss(y_test, model.predict_proba(X_test))),
    }
    mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(X_train, predicted),
        input_example=X_train.head(3),
        pip_requirements=["scikit-learn", "pandas"],
        serialization_format="cloudpickle",
    )
    mlflow.log_metrics(metrics)
    return metrics


def _train(settings: Settings, c: float) -> Trained:
    with reprise.start_run("train", params={"C": c}, inputs=["data.csv"], autolog=False, settings=settings) as run:
        metrics = _fit_and_log(c)
    return Trained(run.run_id, c, metrics)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Project:
    root = tmp_path_factory.mktemp("registry") / "project"
    reprise.init_project(root)
    shutil.copyfile(mlflow_db_template, root / ".reprise" / "mlflow.db")
    (root / "data.csv").write_text("sepal,petal\n1,2\n")
    subprocess.run([*_GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*_GIT, "commit", "-q", "-m", "init"], cwd=root, check=True)
    settings = load_settings(root, environ={})
    runs = tuple(_train(settings, c) for c in (0.01, 0.05, 1.0))
    accuracies = [run.metrics["accuracy"] for run in runs]
    assert accuracies == sorted(accuracies), accuracies
    assert len(set(accuracies)) == 3, accuracies
    return Project(root, settings, runs, list(_data()[0].columns))  # type: ignore[attr-defined]


def _register(project: Project, name: str, index: int, **kwargs: object) -> reprise.Registration:
    kwargs.setdefault("gates", [])
    return reprise.register_model(project.runs[index].run_id, name, settings=project.settings, **kwargs)  # type: ignore[arg-type]


def _clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def test_registration_tags_the_version_with_provenance_and_metrics(project: Project, tmp_path: Path) -> None:
    run = project.runs[2]
    registration = _register(project, "tagged", 2, model_type="LogisticRegression")
    version = project.client.get_model_version("tagged", str(registration.version))
    record_path = project.client.download_artifacts(run.run_id, "reprise/record.json", str(tmp_path))
    record = RunRecord.from_json(Path(record_path).read_bytes())
    tags = version.tags
    assert tags["model_type"] == "LogisticRegression"
    assert tags["git_commit"] == record.code.git.commit
    assert tags["data_digest"] == record.data_digest
    assert tags["data_digest"].startswith("sha256:")
    assert tags["validation_status"] == "not_evaluated"
    assert datetime.fromisoformat(tags["training_date"]).date() == datetime.now(UTC).date()
    for key, value in run.metrics.items():
        assert float(tags[f"metric.{key}"]) == value
    assert registration.has_signature
    assert registration.has_input_example
    assert version.run_id == run.run_id
    assert registration.staging is None
    assert "no quality gates configured" in registration.describe()


def test_a_run_reprise_did_not_capture_registers_with_unknown_provenance(project: Project) -> None:
    client = project.client
    experiment = client.get_experiment_by_name("train")
    created = client.create_run(experiment.experiment_id)
    mlflow.set_tracking_uri(project.settings.tracking_uri)
    with mlflow.start_run(run_id=created.info.run_id):
        _fit_and_log(0.5)
    registration = reprise.register_model(created.info.run_id, "plain", gates=[], settings=project.settings)
    assert registration.tags["git_commit"] == "unknown"
    assert registration.tags["data_digest"] == "unknown"
    assert registration.tags["model_type"] == "sklearn"


def test_a_nested_run_takes_provenance_from_its_captured_parent(project: Project) -> None:
    with (
        reprise.start_run("train", inputs=["data.csv"], settings=project.settings) as parent,
        mlflow.start_run(nested=True, experiment_id=parent.experiment_id) as child,
    ):
        _fit_and_log(0.3)
    registration = reprise.register_model(child.info.run_id, "nested", gates=[], settings=project.settings)
    parent_tags = project.client.get_run(parent.run_id).data.tags
    assert registration.tags["git_commit"] == parent_tags["reprise.git_commit"]
    assert registration.tags["data_digest"] == parent_tags["reprise.data_digest"]
    assert registration.run_id == child.info.run_id


def test_gates_from_params_yaml_stage_a_passing_version_and_tag_a_failing_one(project: Project) -> None:
    weak, strong = project.runs[0].metrics["accuracy"], project.runs[2].metrics["accuracy"]
    threshold = (weak + strong) / 2
    (project.root / "params.yaml").write_text(f"gates:\n  accuracy: '>= {threshold}'\n  log_loss: '<= 5'\n")
    try:
        passed = reprise.register_model(project.runs[2].run_id, "gated", settings=project.settings)
        failed = reprise.register_model(project.runs[0].run_id, "gated", settings=project.settings)
    finally:
        (project.root / "params.yaml").unlink()
    assert passed.gates.status == "passed"
    assert passed.staging is not None
    assert (passed.staging.from_version, passed.staging.to_version) == (None, passed.version)
    assert failed.gates.status == "failed"
    assert failed.staging is None
    tags = project.client.get_model_version("gated", str(failed.version)).tags
    assert tags["validation_status"] == "failed"
    assert tags["gate_failures"] == f"accuracy >= {threshold:g}: actual {weak:.6g}, short by {threshold - weak:.6g}"
    assert "gates FAILED" in failed.describe()
    assert "not staged" in failed.describe()
    assert project.client.get_registered_model("gated").aliases == {"staging": passed.version}
    kinds = [(event.kind, event.version) for event in read_history("gated", settings=project.settings)]
    assert kinds == [
        ("registered", 1),
        ("gate", 1),
        ("alias_set", 1),
        ("registered", 2),
        ("gate", 2),
    ]


def test_gates_in_both_directions_over_several_metrics(project: Project) -> None:
    metrics = project.runs[1].metrics
    gates = [f"accuracy >= {metrics['accuracy']}", f"log_loss <= {metrics['log_loss'] - 0.01}", "f1_macro > 0"]
    registration = _register(project, "directions", 1, gates=gates)
    assert registration.gates.status == "failed"
    [failure] = registration.gates.failures
    assert failure.gate.metric == "log_loss"
    assert failure.shortfall == pytest.approx(0.01)
    assert registration.tags["gate_failures"].startswith("log_loss <= ")


def test_a_malformed_gate_in_reprise_toml_stops_registration_naming_file_and_gate(project: Project) -> None:
    config = project.root / "reprise.toml"
    original = config.read_text()
    config.write_text(original + '\n[gates]\naccuracy = ">> 0.8"\n')
    try:
        with pytest.raises(ConfigError) as info:
            reprise.register_model(project.runs[0].run_id, "malformed", settings=project.settings)
    finally:
        config.write_text(original)
    assert "reprise.toml [gates] accuracy" in info.value.message
    assert "'>> 0.8'" in info.value.message
    assert "malformed" not in [model.name for model in list_models(settings=project.settings)]


def test_promotion_moves_the_alias_and_names_the_version_that_lost_it(project: Project) -> None:
    for index in range(3):
        _register(project, "promoted", index)
    first = reprise.promote_model("promoted", 1, "Production", settings=project.settings)
    second = reprise.promote_model("promoted", "v2", "production", settings=project.settings)
    again = reprise.promote_model("promoted", 2, "Production", settings=project.settings)
    assert (first.moves[0].from_version, first.moves[0].to_version) == (None, 1)
    assert (second.moves[0].from_version, second.moves[0].to_version) == (1, 2)
    assert "v1 lost the alias; it is not archived" in second.describe()
    assert not again.changed
    assert project.client.get_registered_model("promoted").aliases == {"production": 2}
    stages = {info.version: info.stage for info in list_versions("promoted", settings=project.settings)}
    assert stages == {1: "None", 2: "Production", 3: "None"}
    champion = reprise.promote_model("promoted", "@production", "champion", settings=project.settings)
    assert champion.moves[0].to_version == 2
    challenger = reprise.set_model_alias("promoted", "challenger", 3, settings=project.settings)
    assert (challenger.from_version, challenger.to_version) == (None, 3)
    assert project.client.get_registered_model("promoted").aliases == {"production": 2, "champion": 2, "challenger": 3}


def test_a_version_that_failed_its_gates_is_promoted_only_with_force(project: Project) -> None:
    registration = _register(project, "forced", 0, gates=["accuracy >= 0.9999"])
    with pytest.raises(GateFailedError, match="failed its quality gates") as info:
        reprise.promote_model("forced", registration.version, "Production", settings=project.settings)
    assert "--force" in (info.value.hint or "")
    promotion = reprise.promote_model(
        "forced", registration.version, "Production", force=True, settings=project.settings
    )
    assert promotion.moves[0].forced
    [event] = read_history("forced", alias="production", settings=project.settings)
    assert event.details == {"forced": True}


def test_archiving_removes_stage_aliases_only_and_promotion_lifts_it(project: Project) -> None:
    _register(project, "archived", 0)
    _register(project, "archived", 1)
    reprise.promote_model("archived", 1, "Production", settings=project.settings)
    reprise.promote_model("archived", 1, "Staging", settings=project.settings)
    reprise.set_model_alias("archived", "baseline", 1, settings=project.settings)
    archive = reprise.promote_model("archived", 1, "Archived", settings=project.settings)
    assert sorted(move.alias for move in archive.moves) == ["production", "staging"]
    assert archive.kept_aliases == ("baseline",)
    assert "still holds: baseline" in archive.describe()
    [first, _] = list_versions("archived", settings=project.settings)
    assert (first.stage, first.aliases) == ("Archived", ("baseline",))
    assert not reprise.promote_model("archived", 1, "archived", settings=project.settings).changed
    back = reprise.promote_model("archived", 1, "Staging", settings=project.settings)
    assert back.unarchived
    assert list_versions("archived", settings=project.settings)[0].stage == "Staging"


def test_history_answers_who_held_production_at_a_time_across_three_promotions(project: Project) -> None:
    for index in range(3):
        _register(project, "audited", index)
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    people = [Actor("alice", "laptop-a"), Actor("bob", "ci-runner"), Actor("carol", "laptop-c")]
    for version, actor in enumerate(people, start=1):
        moment = t0 + timedelta(days=version)
        reprise.promote_model(
            "audited", version, "Production", settings=project.settings, actor=actor, clock=_clock(moment)
        )

    def holder(at: datetime) -> tuple[int | None, str | None]:
        holding = reprise.alias_holder("audited", "production", at, settings=project.settings)
        return holding.version, holding.by

    assert holder(t0) == (None, None)
    assert holder(t0 + timedelta(days=1, hours=5)) == (1, "alice@laptop-a")
    assert holder(t0 + timedelta(days=2)) == (2, "bob@ci-runner")  # the instant of the move counts
    assert holder(t0 + timedelta(days=2, seconds=-1)) == (1, "alice@laptop-a")
    assert holder(t0 + timedelta(days=3, hours=1)) == (3, "carol@laptop-c")
    assert holder(datetime(2026, 11, 3, 12)) == (2, "bob@ci-runner")  # a naive time is UTC
    moves = read_history("audited", alias="production", settings=project.settings)
    assert [(event.from_version, event.to_version, event.user) for event in moves] == [
        (None, 1, "alice"),
        (1, 2, "bob"),
        (2, 3, "carol"),
    ]
    [production] = aliases_at("audited", t0 + timedelta(days=2, hours=1), settings=project.settings)
    assert (production.alias, production.version) == ("production", 2)
    # The history lives in the metadata store: no MLflow run is written per event any more.
    assert project.client.get_experiment_by_name(EVENTS_EXPERIMENT) is None


def test_concurrent_writers_lose_no_history(project: Project) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from reprise.registry.history import make_event, record_events

    def write(writer: int) -> None:
        for step in range(4):
            at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=step, microseconds=writer)
            event = make_event("exported", "busy", actor=Actor(f"w{writer}", "h"), at=at, version=step + 1)
            record_events(project.settings, [event])

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(write, range(3)))
    events = read_history("busy", settings=project.settings)
    assert len(events) == 12
    assert [(event.at.second, event.user) for event in events] == [
        (second, f"w{writer}") for second in range(4) for writer in range(3)
    ]


def test_a_move_the_registry_refuses_leaves_no_event_behind(project: Project) -> None:
    _register(project, "refused", 0)
    reprise.set_model_alias("refused", "champion", 1, settings=project.settings)
    with pytest.raises(RegistryError, match="cannot set alias 'v7'"):
        reprise.set_model_alias("refused", "v7", 1, settings=project.settings)  # MLflow reserves v<N>
    events = read_history("refused", settings=project.settings)
    assert [(event.kind, event.alias) for event in events] == [("registered", None), ("alias_set", "champion")]


def test_a_move_dated_before_the_last_one_is_recorded_just_after_it(project: Project) -> None:
    for index in range(2):
        _register(project, "skewed", index)
    late = datetime(2026, 11, 5, 12, tzinfo=UTC)
    reprise.promote_model("skewed", 1, "Production", settings=project.settings, clock=_clock(late))
    # A second writer whose clock is an hour behind (another machine): its move must still come after.
    reprise.promote_model("skewed", 2, "Production", settings=project.settings, clock=_clock(late - timedelta(hours=1)))
    moves = read_history("skewed", alias="production", settings=project.settings)
    assert [(event.from_version, event.to_version) for event in moves] == [(None, 1), (1, 2)]
    assert moves[1].at == late + timedelta(microseconds=1)
    assert (
        reprise.alias_holder("skewed", "production", late + timedelta(seconds=1), settings=project.settings).version
        == 2
    )


def test_compare_and_best_agree_with_the_run_metrics(project: Project) -> None:
    for index in range(3):
        _register(project, "ranked", index)
    reprise.set_model_alias("ranked", "champion", 3, settings=project.settings)
    weak, _, strong = project.runs
    comparison = reprise.compare_versions("ranked", 1, "champion", settings=project.settings)
    deltas = {row.name: row for row in comparison.metrics}
    assert set(deltas) == set(strong.metrics)
    for key, row in deltas.items():
        assert (row.a, row.b) == (weak.metrics[key], strong.metrics[key])
        assert row.delta == pytest.approx(strong.metrics[key] - weak.metrics[key])
    assert [(param.name, param.a, param.b) for param in comparison.params] == [("C", "0.01", "1.0")]
    assert comparison.signature.same
    assert comparison.b.aliases == ("champion",)
    assert comparison.a.git_commit == comparison.b.git_commit != "unknown"
    assert comparison.a.data_digest.startswith("sha256:")

    best = reprise.best_version("ranked", "accuracy", settings=project.settings)
    assert (best.version, best.value, best.maximize, best.direction_from) == (
        3,
        strong.metrics["accuracy"],
        True,
        "name",
    )
    assert [entry.version for entry in best.ranking] == [3, 2, 1]
    lowest_loss = min(range(3), key=lambda index: project.runs[index].metrics["log_loss"]) + 1
    assert reprise.best_version("ranked", "log_loss", settings=project.settings).version == lowest_loss
    assert reprise.best_version("ranked", "accuracy", maximize=False, settings=project.settings).version == 1
    with pytest.raises(NotFoundError, match="metrics: accuracy, f1_macro, log_loss"):
        reprise.best_version("ranked", "auc", settings=project.settings)


def test_compare_shows_signature_differences(project: Project) -> None:
    with reprise.start_run("train", settings=project.settings) as run:
        _fit_and_log(1.0, columns=project.features[:3])
    _register(project, "reshaped", 2)
    reprise.register_model(run.run_id, "reshaped", gates=[], settings=project.settings)
    signature = reprise.compare_versions("reshaped", 1, 2, settings=project.settings).signature
    assert not signature.same
    assert signature.only_in_a == (f"{project.features[3]}: double",)
    assert signature.only_in_b == ()


def test_export_round_trips_and_a_re_export_is_a_no_op(project: Project, tmp_path: Path) -> None:
    for index in range(2):
        _register(project, "shipped", index)
    reprise.promote_model("shipped", 2, "Production", settings=project.settings)
    deploy = tmp_path / "deploy"
    export = reprise.export_model("shipped@production", deploy, settings=project.settings)
    assert export.changed
    assert export.path == deploy.resolve() / "v002"
    metadata = json.loads((deploy / "latest" / "metadata.json").read_text())
    assert metadata == json.loads((deploy / "v002" / "metadata.json").read_text())
    assert {key: metadata[key] for key in ("name", "version", "run_id")} == {
        "name": "shipped",
        "version": 2,
        "run_id": project.runs[1].run_id,
    }
    assert metadata["metrics"] == project.runs[1].metrics
    assert metadata["git_commit"] != "unknown"
    assert metadata["data_digest"].startswith("sha256:")
    assert metadata["exported_at"].endswith("Z")
    source = Path(project.client.get_model_version_download_uri("shipped", "2").removeprefix("file://"))
    for path in source.rglob("*"):  # MLflow's own files, byte for byte
        if path.is_file():
            assert (deploy / "latest" / path.relative_to(source)).read_bytes() == path.read_bytes()

    X_test = _data()[1]
    mlflow.set_tracking_uri(project.settings.tracking_uri)
    from_registry = mlflow.pyfunc.load_model("models:/shipped@production").predict(X_test)
    from_export = mlflow.pyfunc.load_model(str(deploy / "latest")).predict(X_test)
    np.testing.assert_array_equal(from_export, from_registry)

    stamp = (deploy / "latest" / "metadata.json").stat().st_mtime_ns
    again = reprise.export_model("shipped@production", deploy, settings=project.settings)
    assert not again.changed
    assert (deploy / "latest" / "metadata.json").stat().st_mtime_ns == stamp

    older = reprise.export_model("shipped/1", deploy, settings=project.settings)
    assert older.changed
    assert json.loads((deploy / "latest" / "metadata.json").read_text())["version"] == 1
    assert sorted(path.name for path in deploy.iterdir()) == ["latest", "v001", "v002"]
    exported = [event for event in read_history("shipped", settings=project.settings) if event.kind == "exported"]
    assert [event.version for event in exported] == [2, 1]


def test_export_refuses_a_folder_that_holds_another_model(project: Project, tmp_path: Path) -> None:
    _register(project, "first_model", 0)
    _register(project, "second_model", 0)
    reprise.export_model("first_model", tmp_path, settings=project.settings)
    with pytest.raises(RegistryError, match="holds first_model v1, not second_model/1"):
        reprise.export_model("second_model", tmp_path, settings=project.settings)
    foreign = tmp_path / "foreign"
    (foreign / "latest").mkdir(parents=True)
    (foreign / "latest" / "keep.txt").write_text("mine")
    with pytest.raises(RegistryError, match="is not a Reprise export"):
        reprise.export_model("first_model", foreign, settings=project.settings)
    assert (foreign / "latest" / "keep.txt").read_text() == "mine"


def test_load_model_by_alias_version_or_name(project: Project) -> None:
    for index in range(2):
        _register(project, "loadable", index)
    reprise.set_model_alias("loadable", "champion", 1, settings=project.settings)
    X_test = _data()[1]
    by_alias = reprise.load_model("loadable@champion", settings=project.settings)
    by_version = reprise.load_model("loadable/1", settings=project.settings)
    latest = reprise.load_model("models:/loadable", settings=project.settings)
    np.testing.assert_array_equal(by_alias.predict(X_test), by_version.predict(X_test))
    assert by_alias.metadata.run_id == project.runs[0].run_id
    assert latest.metadata.run_id == project.runs[1].run_id


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no_such_model@champion", "no registered model 'no_such_model'; known models: "),
        ("listed/9", "model 'listed' has no version 9; versions: 1, 2"),
        ("listed@prod", "model 'listed' has no alias 'prod'; aliases: production → v2"),
    ],
    ids=["model", "version", "alias"],
)
def test_unknown_names_are_not_found_errors_listing_what_exists(project: Project, ref: str, message: str) -> None:
    if "listed" not in [model.name for model in list_models(settings=project.settings)]:
        _register(project, "listed", 0)
        _register(project, "listed", 1)
        reprise.promote_model("listed", 2, "Production", settings=project.settings)
    with pytest.raises(NotFoundError) as info:
        reprise.load_model(ref, settings=project.settings)
    assert message in info.value.message
    if ref.startswith("no_such"):
        assert "listed" in info.value.message
    with pytest.raises(LookupError):
        reprise.export_model(ref, project.root / "never", settings=project.settings)


def test_registering_a_run_without_that_model_lists_what_it_logged(project: Project) -> None:
    with pytest.raises(NotFoundError, match="has no model 'weights'; models logged in it: model"):
        reprise.register_model(project.runs[0].run_id, "missing", artifact_path="weights", settings=project.settings)
    with pytest.raises(NotFoundError, match="no run 0123"):
        reprise.register_model("0123", "missing", settings=project.settings)


@pytest.mark.parametrize("name", ["it's", 'the "best" one', "both ' and \""], ids=["single", "double", "both"])
def test_model_names_with_quotes_list_versions_and_history(project: Project, name: str) -> None:
    _register(project, name, 0)
    reprise.promote_model(name, 1, "Production", settings=project.settings)
    assert [info.version for info in list_versions(name, settings=project.settings)] == [1]
    assert len(read_history(name, alias="production", settings=project.settings)) == 1
    assert reprise.best_version(name, "accuracy", settings=project.settings).version == 1


def test_no_deprecated_stage_api_anywhere_in_the_source() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "transition_model_version_stage" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
