"""The metadata store on SQLite and on the real PostgreSQL: migrations, rows, and two processes writing at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from reprise.errors import ConfigError, DataError, StoreError
from reprise.store import db
from reprise.store.data_versions import (
    DataVersionRow,
    find_data_version,
    insert_data_version,
    list_data_versions,
    read_document,
)
from reprise.store.migrations import HEAD, current_version, upgrade
from reprise.store.tables import metadata


def _row(name: str, digest: str = "sha256:" + "ab" * 32, **changes: object) -> DataVersionRow:
    values: dict[str, object] = {
        "version_id": uuid.uuid4().hex,
        "name": name,
        "path": "data/train.csv",
        "kind": "file",
        "dvc_md5": "0" * 32,
        "dvc_file": "data/train.csv.dvc",
        "dvc_text": "outs: []\n",
        "manifest_digest": digest,
        "files": 1,
        "size_bytes": 10,
        "rows": 3,
        "columns": 2,
        "tables": [{"path": "train.csv", "rows": 3}],
        "meta": {"k": "v"},
        "git_commit": "c" * 40,
        "created_at": datetime.now(UTC),
        **changes,
    }
    return DataVersionRow(**values)  # type: ignore[arg-type]


def test_an_empty_database_migrates_to_head(store_url: str) -> None:
    engine = create_engine(store_url) if store_url.startswith("postgresql") else None
    if engine is not None:
        assert current_version(engine) == 0
        engine.dispose()
    store = db.open_store(store_url)
    assert current_version(store) == HEAD
    assert upgrade(store) == []
    with db.reading(store) as conn:
        inspector = inspect(conn)
        for table in metadata.sorted_tables:
            columns = {column["name"] for column in inspector.get_columns(table.name)}
            assert columns == set(table.columns.keys()), table.name
        uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("reprise_data_versions")}
        indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("reprise_data_versions") if i["unique"]}
        assert ("name",) in uniques | indexes


def test_rows_round_trip_and_a_taken_name_is_refused(store_url: str) -> None:
    store = db.open_store(store_url)
    first = _row("v1")
    insert_data_version(store, first, '{"files": []}')
    insert_data_version(store, _row("v2"), '{"files": []}')  # the same document is stored once
    found = find_data_version(store, "v1")
    assert found is not None
    assert (found.version_id, found.tables, found.meta, found.rows) == (first.version_id, first.tables, {"k": "v"}, 3)
    assert found.created_at.tzinfo is not None
    assert [row.name for row in list_data_versions(store)] == ["v1", "v2"]
    assert list_data_versions(store, "elsewhere") == []
    assert read_document(store, first.manifest_digest) == '{"files": []}'
    assert find_data_version(store, "nope") is None
    with pytest.raises(DataError, match="'v1' is already taken") as caught:
        insert_data_version(store, _row("v1"), "{}")
    assert caught.value.hint == "pick another --name or see `reprise data list`"
    assert len(list_data_versions(store)) == 2


def test_a_schema_newer_than_this_reprise_is_refused(store_url: str) -> None:
    store = db.open_store(store_url)
    with db.writing(store) as conn:
        conn.execute(
            text("INSERT INTO reprise_schema_migrations (version, name, applied_at) VALUES (:v, 'future', :t)"),
            {"v": HEAD + 1, "t": datetime.now(UTC)},
        )
    with pytest.raises(ConfigError, match=f"schema version {HEAD + 1}, newer"):
        upgrade(store)


def test_an_unreachable_store_is_a_store_error_naming_the_redacted_uri() -> None:
    expected = r"cannot open the metadata store postgresql://u:\*\*\*@127\.0\.0\.1:1/x"
    with pytest.raises(StoreError, match=expected) as caught:
        db.open_store("postgresql://u:secret@127.0.0.1:1/x?connect_timeout=2")
    assert "\n" not in caught.value.message
    assert "secret" not in str(caught.value)
    with pytest.raises(ConfigError, match="not a database URI"):
        db.open_store("not a uri")


_WRITER = textwrap.dedent(
    """
    import json, sys, time, uuid
    from pathlib import Path
    from datetime import datetime, UTC
    from reprise.errors import DataError
    from reprise.store.db import open_store
    from reprise.store.data_versions import DataVersionRow, insert_data_version

    url, who, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.005)
    engine = open_store(url)  # both processes migrate the empty store at the same moment
    won = []

    def row(name):
        return DataVersionRow(
            version_id=uuid.uuid4().hex, name=name, path="d", kind="file", dvc_md5="0" * 32,
            dvc_file="d.dvc", dvc_text="", manifest_digest="sha256:" + "cd" * 32, files=1, size_bytes=1, rows=None,
            columns=None, tables=[], meta={"by": who}, git_commit=None, created_at=datetime.now(UTC),
        )

    for index in range(15):
        for name in (f"{who}-{index}", f"shared-{index}"):
            try:
                insert_data_version(engine, row(name), "{}")
                won.append(name)
            except DataError as exc:
                assert "already taken" in exc.message, exc.message
    print(json.dumps(won))
    """
)


def test_two_processes_writing_at_once_lose_nothing_and_share_no_name(store_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, store_url, who, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for who in ("a", "b")
    ]
    time.sleep(0.5)  # both are waiting on the go file
    go.touch()
    outputs = [writer.communicate(timeout=120) for writer in writers]
    for writer, (_, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err.decode()
    won = [json.loads(out) for out, _ in outputs]
    names = [row.name for row in list_data_versions(db.open_store(store_url))]
    assert len(names) == len(set(names)) == 45
    assert sorted(names) == sorted(won[0] + won[1])
    assert sum(1 for name in won[0] + won[1] if name.startswith("shared-")) == 15
    assert {name for name in names if name.startswith(("a-", "b-"))} == {f"{w}-{i}" for w in "ab" for i in range(15)}
