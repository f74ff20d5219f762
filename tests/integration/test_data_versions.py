"""Data versions with real DVC and git in a temp project: round trips, verification, diff, and MLflow logging."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

import reprise
from reprise.config import load_settings
from reprise.data.diff import diff_data
from reprise.data.manifest import Manifest
from reprise.errors import DataError, NotFoundError
from reprise.tracking.data import log_manifest


def _write_csv(path: Path, rows: int, shift: int = 0, extra: bool = False) -> bytes:
    header = "age,city,income" + (",extra" if extra else "") + "\n"
    cities = ["paris", "lyon", "nice"] if not shift else ["paris", "lyon", "brest"]
    lines = [
        f"{18 + (i * 7 + shift) % 60},{cities[i % 3]},{(i * 13) % 1000 / 10}" + (",1" if extra else "") + "\n"
        for i in range(rows)
    ]
    data = (header + "".join(lines)).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def test_a_file_version_round_trips_through_dvc(tmp_project: Path) -> None:
    path = tmp_project / "data" / "train.csv"
    original = _write_csv(path, 200)
    v1 = reprise.version_data("data/train.csv", version_name="train-v1", metadata={"source": "unit", "n": 1})
    assert v1.dvc_md5 == hashlib.md5(original).hexdigest()
    assert (v1.file_path, v1.kind, v1.files, v1.size_bytes) == ("data/train.csv", "file", 1, len(original))
    assert (v1.rows, v1.columns) == (200, 3)
    assert [(c.name, c.dtype) for c in v1.tables[0].columns] == [
        ("age", "int64"),
        ("city", "string"),
        ("income", "double"),
    ]
    assert v1.metadata == {"source": "unit", "n": 1}
    assert v1.git_commit is not None
    assert len(v1.git_commit) == 40
    changed = _write_csv(path, 250, shift=5, extra=True)
    v2 = reprise.version_data(path, version_name="train-v2")
    assert (v2.rows, v2.columns) == (250, 4)
    listed = reprise.list_data_versions()
    assert [(v.name, v.file_path, v.rows) for v in listed] == [
        ("train-v1", "data/train.csv", 200),
        ("train-v2", "data/train.csv", 250),
    ]
    assert len({v.version_id for v in listed}) == 2
    path.write_text("scribbled over\n")
    with pytest.raises(DataError, match=r"data/train\.csv has local changes .* pass --force"):
        reprise.checkout_data("train-v1")
    assert path.read_text() == "scribbled over\n"
    assert reprise.checkout_data("train-v1", force=True).name == "train-v1"
    assert path.read_bytes() == original
    reprise.checkout_data("train-v2")
    assert path.read_bytes() == changed


def test_a_folder_version_round_trips_and_verifies(tmp_project: Path) -> None:
    folder = tmp_project / "data" / "images"
    payloads = {f"class{i % 3}/img{i}.bin": os.urandom(1000 + i) for i in range(12)}
    for name, payload in payloads.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(payload)
    version = reprise.version_data(folder, version_name="images-v1")
    assert version.kind == "directory"
    assert version.dvc_md5.endswith(".dir")
    assert (version.files, version.rows) == (12, None)
    (folder / "class0/img0.bin").write_bytes(b"changed")
    (folder / "class1/img1.bin").unlink()
    [result] = reprise.verify_data("images-v1")
    assert not result.ok
    assert result.validation.missing == ("class1/img1.bin",)
    assert [m.path for m in result.validation.mismatched] == ["class0/img0.bin"]
    with pytest.raises(DataError, match="local changes"):
        reprise.checkout_data("images-v1")
    reprise.checkout_data("images-v1", force=True)
    assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == payloads
    assert all(r.ok for r in reprise.verify_data())


def test_verify_rehash_catches_a_corrupted_stat_cache(tmp_project: Path) -> None:
    path = tmp_project / "data.csv"
    _write_csv(path, 50)
    old = time.time_ns() - 3600 * 10**9
    os.utime(path, ns=(old, old))
    reprise.version_data("data.csv", version_name="d1")
    assert reprise.verify_data("data.csv")[0].ok
    # Bit rot the cache cannot see: the bytes change, the cache says the old hashes.
    stat = path.stat()
    cache = tmp_project / ".reprise" / "hashcache.db"
    with sqlite3.connect(cache) as conn:
        recorded = conn.execute("SELECT md5, sha256 FROM hashes WHERE path = ?", (str(path),)).fetchone()
    path.write_bytes(path.read_bytes().replace(b"paris", b"PARIS"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    now = path.stat()
    with sqlite3.connect(cache) as conn:
        conn.execute("DELETE FROM trees")
        conn.execute(
            "UPDATE hashes SET inode = ?, size = ?, mtime_ns = ?, ctime_ns = ?, md5 = ?, sha256 = ? WHERE path = ?",
            (now.st_ino, now.st_size, now.st_mtime_ns, now.st_ctime_ns, *recorded, str(path)),
        )
    assert reprise.verify_data("d1")[0].ok  # trusted the (lying) cache
    [checked] = reprise.verify_data("d1", rehash=True)
    assert not checked.ok
    assert [m.path for m in checked.validation.mismatched] == ["data.csv"]


def test_names_and_paths_are_checked(tmp_project: Path) -> None:
    _write_csv(tmp_project / "a.csv", 5)
    reprise.version_data("a.csv", version_name="a1")
    with pytest.raises(DataError, match="'a1' is already taken") as taken:
        reprise.version_data("a.csv", version_name="a1")
    assert taken.value.hint == "pick another --name or see `reprise data list`"
    with pytest.raises(DataError, match=r"missing\.csv does not exist"):
        reprise.version_data("missing.csv", version_name="m1")
    with pytest.raises(DataError, match="not allowed"):
        reprise.version_data("a.csv", version_name="bad name")
    with pytest.raises(NotFoundError, match="no data version named nope"):
        reprise.checkout_data("nope")
    outside = tmp_project.parent / "outside.csv"
    outside.write_text("x\n1\n")
    with pytest.raises(DataError, match="outside the project"):
        reprise.version_data(outside, version_name="o1")


def test_checkout_without_the_bytes_in_cache_or_remote_is_a_clear_error(tmp_project: Path) -> None:
    _write_csv(tmp_project / "a.csv", 5)
    reprise.version_data("a.csv", version_name="a1")
    shutil.rmtree(tmp_project / ".dvc" / "cache")
    (tmp_project / "a.csv").unlink()
    with pytest.raises(DataError, match="not in the DVC cache") as caught:
        reprise.checkout_data("a1")
    assert caught.value.hint is not None
    assert "dvc remote add" in caught.value.hint


def test_checkout_fetches_from_the_dvc_remote_when_the_cache_lost_the_bytes(tmp_project: Path, tmp_path: Path) -> None:
    original = _write_csv(tmp_project / "data" / "a.csv", 50)
    reprise.version_data("data/a.csv", version_name="a1")
    dvc = str(Path(sys.executable).parent / "dvc")
    for args in (["remote", "add", "-d", "store", str(tmp_path / "remote")], ["push", "-q"]):
        subprocess.run([dvc, *args], cwd=tmp_project, env={**os.environ, "DVC_NO_ANALYTICS": "1"}, check=True)
    _write_csv(tmp_project / "data" / "a.csv", 80, shift=3)
    shutil.rmtree(tmp_project / ".dvc" / "cache")
    reprise.checkout_data("a1", force=True)
    assert (tmp_project / "data" / "a.csv").read_bytes() == original


def test_diff_between_versions_and_the_work_tree(tmp_project: Path) -> None:
    path = tmp_project / "data" / "train.csv"
    _write_csv(path, 300)
    reprise.version_data(path, version_name="v1")
    _write_csv(path, 320, shift=11, extra=True)
    reprise.version_data(path, version_name="v2")
    diff = diff_data("v1", "v2")
    assert diff.files.changed == ("train.csv",)
    [table] = diff.tables
    assert (table.rows_a, table.rows_b, table.columns_added) == (300, 320, ("extra",))
    city = next(item for item in table.drift if item.column == "city")
    assert (city.new_categories, city.vanished_categories, city.drifted) == (("brest",), ("nice",), True)
    assert diff_data("v2").is_empty  # v2 against the work tree, which holds v2
    _write_csv(path, 300)
    assert diff_data("v2").files.changed == ("train.csv",)
    with pytest.raises(NotFoundError, match="neither a data version nor a path"):
        diff_data("v1", "nothing-here")


def test_start_run_records_md5_and_sha256_for_inputs(tmp_project: Path) -> None:
    data = _write_csv(tmp_project / "in.csv", 10)
    with reprise.start_run(inputs=["in.csv"]) as run:
        pass
    assert run.record is not None
    assert run.record.inputs is not None
    entry = run.record.inputs.files[0]
    assert entry.hashes == {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}
    assert run.record.data_digest == run.record.inputs.digest


def test_log_manifest_puts_artifact_metrics_and_params_on_the_run(tmp_project: Path, tmp_path: Path) -> None:
    _write_csv(tmp_project / "data" / "a.csv", 20)
    manifest = Manifest.generate(tmp_project / "data")
    settings = load_settings()
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    run = client.create_run(client.create_experiment("manifests")).info.run_id
    log_manifest(manifest, run, settings=settings)
    data = client.get_run(run).data
    assert data.metrics["data_files_count"] == 1
    assert data.metrics["data_size_bytes"] == manifest.summary.total_size
    assert "data_processing_time" in data.metrics
    assert data.params == {"data_path": manifest.root, "hash_algorithms": "md5,sha256", "manifest_version": "2"}
    local = client.download_artifacts(run, "reprise/data/manifest.json", str(tmp_path))
    assert Manifest.load(local) == manifest
    assert json.loads(Path(local).read_text())["digest"] == manifest.digest
    with pytest.raises(NotFoundError):
        log_manifest(manifest, "0" * 32, settings=settings)
    with reprise.start_run() as captured:
        reprise.log_manifest(manifest, captured)
    with reprise.start_run() as other:
        manifest.log_to_mlflow(other)
    for run_id in (captured.run_id, other.run_id):
        logged = client.get_run(run_id).data
        assert logged.params["data_path"] == manifest.root
        assert logged.metrics["data_files_count"] == 1


@pytest.mark.postgres
def test_versions_live_in_postgres_when_the_store_uri_says_so(
    tmp_project: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import create_engine, text

    from reprise.store.db import dispose_engines

    name = f"reprise_test_{os.urandom(6).hex()}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        monkeypatch.setenv("REPRISE_STORE_URI", postgres_url.rsplit("/", 1)[0] + f"/{name}")
        original = _write_csv(tmp_project / "a.csv", 5)
        reprise.version_data("a.csv", version_name="pg-1")
        (tmp_project / "a.csv").unlink()
        reprise.checkout_data("pg-1")
        assert (tmp_project / "a.csv").read_bytes() == original
        assert not (tmp_project / ".reprise" / "reprise.db").exists()
        assert [v.name for v in reprise.list_data_versions()] == ["pg-1"]
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
