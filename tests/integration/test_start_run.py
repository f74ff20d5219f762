"""start_run against a real git repo, real DVC project and a real MLflow SQLite store."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

import reprise
from reprise.capture.record import RunRecord
from reprise.config import load_settings


def _client() -> MlflowClient:
    return MlflowClient(tracking_uri=load_settings().tracking_uri)


def _download_all(run_id: str, dest: Path) -> list[Path]:
    local = Path(_client().download_artifacts(run_id, "", str(dest)))
    return [p for p in local.rglob("*") if p.is_file()]


def _record(run_id: str, tmp_path: Path) -> RunRecord:
    path = _client().download_artifacts(run_id, "reprise/record.json", str(tmp_path))
    return RunRecord.from_json(Path(path).read_text())


def test_a_captured_run_reads_back_with_a_plain_mlflow_client(tmp_project: Path, tmp_path: Path) -> None:
    import mlflow

    (tmp_project / "data.csv").write_text("a,b\n1,2\n3,4\n")
    with reprise.start_run("exp", params={"n_estimators": 3}, inputs=["data.csv"], outputs=["out.txt"]) as run:
        mlflow.log_metrics({"accuracy": 0.875})
        (tmp_project / "out.txt").write_text("result")
        run.log_predictions(np.array([0, 1, 1]))
    client = _client()
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"n_estimators": "3"}
    tags = got.data.tags
    record = _record(run.run_id, tmp_path / "dl")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert tags["reprise.git_commit"] == commit == record.code.git.commit
    assert tags["reprise.git_dirty"] == "true"  # data.csv is untracked
    assert tags["reprise.env_digest"] == record.environment_digest
    assert tags["reprise.data_digest"] == record.data_digest
    assert tags["reprise.seed"] == "42" == str(record.randomness.seed)
    assert tags["reprise.inputs_digest"] == record.inputs_digest
    names = {a.path for a in client.list_artifacts(run.run_id, "reprise")}
    assert {
        "reprise/record.json",
        "reprise/requirements.txt",
        "reprise/system_info.json",
        "reprise/code.patch",
        "reprise/inputs.json",
        "reprise/predictions.npy",
    } <= names
    assert record.status == "FINISHED"
    assert record.outputs.metrics == {"accuracy": 0.875}
    assert record.inputs is not None
    assert record.inputs.files[0].hashes["sha256"] == hashlib.sha256(b"a,b\n1,2\n3,4\n").hexdigest()
    assert record.outputs.manifest is not None
    assert [f.path for f in record.outputs.manifest.files] == ["out.txt"]
    assert record.outputs.predictions == reprise.capture.record.fingerprint_predictions(np.array([0, 1, 1]))
    predictions = np.load(client.download_artifacts(run.run_id, "reprise/predictions.npy", str(tmp_path)))
    assert predictions.tolist() == [0, 1, 1]
    assert run.record is not None
    assert run.record.to_json() == record.to_json()


def test_the_captured_patch_restores_the_dirty_tree_in_a_fresh_clone(tmp_project: Path, tmp_path: Path) -> None:
    (tmp_project / "reprise.toml").write_text((tmp_project / "reprise.toml").read_text() + "\n# edited\n")
    (tmp_project / "new file.py").write_text("print('untracked')\r\n")
    (tmp_project / "blob.bin").write_bytes(bytes(range(256)) * 4)
    subprocess.run(["git", "add", "blob.bin"], check=True)  # staged: an *untracked* binary is left out (no scan)
    (tmp_project / ".dvcignore").unlink()
    with reprise.start_run() as run:
        pass
    patch = Path(_client().download_artifacts(run.run_id, "reprise/code.patch", str(tmp_path)))
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(tmp_project), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", run.record.code.git.commit], cwd=clone, check=True)  # type: ignore[union-attr]
    subprocess.run(["git", "apply", "--binary", str(patch)], cwd=clone, check=True)

    def tree(root: Path) -> dict[str, bytes]:
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, capture_output=True, check=True
        ).stdout.split(b"\0")
        return {n.decode(): (root / n.decode()).read_bytes() for n in listed if n and (root / n.decode()).exists()}

    assert tree(clone) == tree(tmp_project)
    assert not (clone / ".dvcignore").exists()


def test_an_exception_marks_the_run_failed_and_still_logs_the_record(tmp_project: Path, tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError), reprise.start_run() as run:
        _ = 1 / 0
    assert _client().get_run(run.run_id).info.status == "FAILED"
    assert _record(run.run_id, tmp_path).status == "FAILED"


def test_a_missing_input_fails_before_any_run_is_created(tmp_project: Path) -> None:
    with pytest.raises(reprise.DataError, match=r"nope\.csv"), reprise.start_run(inputs=["nope.csv"]):
        pass
    assert _client().search_experiments(filter_string="name != 'Default'") == []


def test_a_planted_secret_never_reaches_any_artifact_or_tag(
    tmp_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_project / "reprise.toml").write_text('capture_env_vars = ["MY_*", "DATABASE_URL"]\n')
    monkeypatch.setenv("MY_API_TOKEN", "Zq7-tok-1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:Zq7-pw-2@db.invalid/x")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "Zq7-pw-3")
    code, record = reprise.run_command(["python", "-c", "pass", "--api-token", "Zq7-arg-4"])
    assert code == 0
    assert record.environment.env_vars["MY_API_TOKEN"] == "***"
    files = _download_all(record.run_id, tmp_path / "all")
    assert {f.name for f in files} >= {"record.json", "requirements.txt", "system_info.json", "code.patch"}
    for file in files:
        assert b"Zq7" not in file.read_bytes(), file
    run = _client().get_run(record.run_id)
    assert "Zq7" not in repr(run.data.tags) + repr(run.data.params)


def test_seed_from_settings_reaches_the_run(tmp_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPRISE_SEED", "7")
    with reprise.start_run() as run:
        assert run.seeds.seed == 7
    assert _client().get_run(run.run_id).data.tags["reprise.seed"] == "7"
