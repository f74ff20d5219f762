"""``reprise data pull``: a query on a real database versioned as Parquet, and a refresh that sees new rows."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reprise.data.pull import pull_data, refresh_data
from reprise.data.sources import SqlSource, source_from_spec
from reprise.data.tablediff import DIFFERENT_CONTENT
from reprise.data.versions import get_data_version
from reprise.errors import DataError


@pytest.fixture
def scratch_schema(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A schema of its own on the real PostgreSQL with a table of three orders, dropped afterwards."""
    import psycopg

    schema = f"reprise_pull_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.orders (id integer primary key, customer text, amount double precision)")
        conn.execute(f"INSERT INTO {schema}.orders VALUES (1, 'ana', 10.5), (2, 'bo', 3.25), (3, 'cy', 7.0)")
    yield postgres_url, schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.postgres
def test_a_query_on_postgresql_is_versioned_and_a_refresh_after_an_insert_reports_one_row_added(
    tmp_project: Path, scratch_schema: tuple[str, str]
) -> None:
    import psycopg

    url, schema = scratch_schema
    query = f"SELECT id, customer, amount FROM {schema}.orders ORDER BY id"
    pulled = pull_data(SqlSource(url, query), "data/orders.parquet", version_name="orders")
    assert pulled.version is not None
    assert (pulled.rows, pulled.version.rows, pulled.version.file_path) == (3, 3, "data/orders.parquet")
    assert pulled.version.metadata == {
        "source": {"kind": "sql", "uri": url, "query": query},
        "rows": 3,
    }
    assert pulled.content_digest == pulled.version.content_digest
    assert [(c.name, c.type) for c in pulled.version.tables[0].identity.columns] == [  # type: ignore[union-attr]
        ("id", "int"),
        ("customer", "string"),
        ("amount", "float"),
    ]
    unchanged = refresh_data("orders")
    assert (unchanged.changed, unchanged.version, unchanged.content_digest) == (False, None, pulled.content_digest)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {schema}.orders VALUES (4, 'di', 12.0)")
    done = subprocess.run(
        [sys.executable, "-m", "reprise", "data", "pull", "--refresh", "orders", "--name", "orders-2", "--json"],
        cwd=tmp_project,
        capture_output=True,
        text=True,
        check=True,
    )
    refreshed = json.loads(done.stdout)
    assert (refreshed["changed"], refreshed["refreshed"], refreshed["rows"]) == (True, "orders", 4)
    change = refreshed["change"]
    assert (change["verdict"], change["rows_added"], change["rows_removed"]) == (DIFFERENT_CONTENT, 1, 0)
    assert change["added"] == [{"row": 4, "cells": {"id": "4", "customer": "di", "amount": "12.0"}}]
    second = get_data_version("orders-2")
    assert second.rows == 4
    assert second.metadata["refreshed_from"] == "orders"
    assert second.git_commit != pulled.version.git_commit


def test_a_sqlite_query_is_pulled_and_a_refresh_without_change_versions_nothing(tmp_project: Path) -> None:
    database = tmp_project.parent / "source.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE t (k TEXT, v REAL)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [("a", 1.5), ("b", None)])
    uri = f"sqlite:///{database}"
    pulled = pull_data(SqlSource(uri, "SELECT k, v FROM t"), "t.parquet", version_name="t")
    assert pulled.version is not None and pulled.version.rows == 2
    again = refresh_data("t")
    assert not again.changed
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE t SET v = 2.5 WHERE k = 'b'")
    changed = refresh_data("t", new_name="t-2")
    assert changed.change is not None
    assert (changed.change.rows_added, changed.change.rows_removed) == (1, 1)
    assert changed.change.removed[0].cells == {"k": "b", "v": None}
    with pytest.raises(DataError, match="was not pulled from a source"):
        refresh_data(_plain_version(tmp_project))
    with pytest.raises(DataError, match="returns no rows"):
        pull_data(SqlSource(uri, "DELETE FROM t"), "u.parquet", version_name="u")


def test_a_stored_uri_that_hides_its_password_needs_the_same_uri_again() -> None:
    spec = {"kind": "sql", "uri": "postgresql://ana:***@db.example/sales", "query": "SELECT 1"}
    with pytest.raises(DataError, match="hides its password"):
        source_from_spec(spec)
    with pytest.raises(DataError, match="is not the database this version was pulled from"):
        source_from_spec(spec, "postgresql://bo:secret@db.example/sales")
    source = source_from_spec(spec, "postgresql://ana:secret@db.example/sales")
    assert source.spec() == spec
    with pytest.raises(DataError, match="no connector for source kind 'ftp'"):
        source_from_spec({"kind": "ftp"})


def _plain_version(root: Path) -> str:
    from reprise.data.versions import version_data

    (root / "plain.csv").write_text("a\n1\n")
    return version_data("plain.csv", version_name="plain").name
