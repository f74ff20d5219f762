"""A project made by Reprise 0.1 upgrades in place on first use: migration 2, and the registry events 0.1 kept as
MLflow runs imported once into the metadata store, with the lineage of the registration.

The project is ``tests/fixtures/legacy_project.tar.gz``, made by the code of commit 8d659ab (see
``tests/fixtures/make_legacy_project.py`` for how).
"""

from __future__ import annotations

import sqlite3
import tarfile
from pathlib import Path

import pytest
from mlflow import MlflowClient

import reprise
from reprise.config import Settings, load_settings
from reprise.registry.history import EVENTS_EXPERIMENT, read_history
from reprise.store.db import open_store
from reprise.store.lineage import walk
from reprise.store.migrations import HEAD

_FIXTURE = Path(__file__).parents[1] / "fixtures" / "legacy_project.tar.gz"


@pytest.fixture
def legacy(tmp_path: Path) -> Settings:
    with tarfile.open(_FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    return load_settings(tmp_path / "legacy", environ={})


def _schema_version(settings: Settings) -> int:
    db = settings.project_dir / ".reprise" / "reprise.db"
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT max(version) FROM reprise_schema_migrations").fetchone()[0])


def test_a_legacy_project_upgrades_in_place_and_keeps_its_history(legacy: Settings) -> None:
    client = MlflowClient(legacy.tracking_uri)
    old_runs = client.search_runs([client.get_experiment_by_name(EVENTS_EXPERIMENT).experiment_id])
    assert _schema_version(legacy) == 1
    assert {run.data.tags["kind"] for run in old_runs} >= {"registered", "alias_set"}

    events = read_history("legacy_model", settings=legacy)

    assert _schema_version(legacy) == HEAD
    assert sorted(event.id for event in events) == sorted(run.data.tags["event_id"] for run in old_runs)
    registered = next(event for event in events if event.kind == "registered")
    [production] = [event for event in events if event.kind == "alias_set" and event.alias == "production"]
    assert (production.from_version, production.to_version) == (None, 1)
    run_id = str(registered.details["run_id"])
    assert [r.ref for r in walk(open_store(legacy), f"run:{run_id}", "down")] == ["model:legacy_model/1"]
    # The data version made by 0.1 is still there, and reads as before.
    assert [version.name for version in reprise.list_data_versions(settings=legacy)] == ["iris@v1"]

    # Imported once: a second read and a new event add nothing twice; the old runs are left as they were.
    reprise.promote_model("legacy_model", 1, "champion", settings=legacy)
    again = read_history("legacy_model", settings=legacy)
    assert len(again) == len(events) + 1
    assert again[-1].alias == "champion"
    assert len(client.search_runs([client.get_experiment_by_name(EVENTS_EXPERIMENT).experiment_id])) == len(old_runs)
