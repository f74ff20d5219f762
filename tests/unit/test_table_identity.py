"""The content identity of tables (reprise-table-v1) and the table diff, on real files written by pandas and pyarrow."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reprise.data import _tablefile
from reprise.data.identity import table_identity
from reprise.data.profile import read_schema
from reprise.data.tablediff import DIFFERENT_CONTENT, SAME_TABLE, compare_table_files
from reprise.errors import DataError


def _frame(rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "name": [f'n{i}, "q"' if i % 7 == 0 else f"n{i}" for i in range(rows)],
            "income": rng.normal(1000, 50, rows).round(4),
            "ok": rng.random(rows) > 0.5,
            "zip": [f"0{i:04d}" for i in range(rows)],
            "score": np.where(np.arange(rows) % 5 == 0, np.nan, rng.random(rows)),
        }
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def saved(tmp_path: Path) -> dict[str, Path]:
    """One table saved seven ways."""
    frame = _frame()
    paths = {
        "plain": tmp_path / "plain.csv",
        "crlf": tmp_path / "crlf.csv",
        "bom": tmp_path / "bom.csv",
        "quoted": tmp_path / "quoted.csv",
        "reordered": tmp_path / "reordered.csv",
        "parquet": tmp_path / "table.parquet",
        "tsv": tmp_path / "table.tsv",
    }
    frame.to_csv(paths["plain"], index=False)
    frame.to_csv(paths["crlf"], index=False, lineterminator="\r\n")
    frame.to_csv(paths["bom"], index=False, encoding="utf-8-sig")
    frame.to_csv(paths["quoted"], index=False, quoting=csv.QUOTE_ALL)
    frame[["score", "zip", "ok", "income", "name", "id"]].to_csv(paths["reordered"], index=False)
    frame.to_parquet(paths["parquet"])
    frame.to_csv(paths["tsv"], index=False, sep="\t")
    return paths


def test_one_table_saved_seven_ways_has_one_content_digest_and_seven_byte_hashes(saved: dict[str, Path]) -> None:
    identities = {kind: table_identity(path) for kind, path in saved.items()}
    assert len({identity.content_digest for identity in identities.values()}) == 1
    assert len({_sha256(path) for path in saved.values()}) == len(saved)
    plain = identities["plain"]
    assert plain.rows == 40
    assert [(c.name, c.type) for c in plain.columns] == [
        ("id", "int"),
        ("name", "string"),
        ("income", "float"),
        ("ok", "bool"),
        ("zip", "string"),  # leading zeros: kept exactly as text, never read as a number
        ("score", "float"),
    ]
    assert identities["reordered"].layout_digest != plain.layout_digest
    assert identities["reordered"].ordered_digest == plain.ordered_digest
    assert (identities["crlf"].layout.line_ending, plain.layout.line_ending) == ("crlf", "lf")
    assert (identities["bom"].layout.bom, identities["quoted"].layout.quoting) == (True, "all")
    assert identities["tsv"].layout.delimiter == "\t"
    assert identities["parquet"].layout.format == "parquet"


def test_bom_prefixed_first_column_is_named_without_the_bom(saved: dict[str, Path]) -> None:
    assert saved["bom"].read_bytes().startswith(b"\xef\xbb\xbfid,")
    assert table_identity(saved["bom"]).columns[0].name == "id"
    assert read_schema(saved["bom"], "bom.csv").columns[0].name == "id"


@pytest.mark.parametrize(
    ("change", "added", "removed"),
    [
        ("changed cell", [4], [4]),
        ("dropped row", [], [10]),
        ("duplicated row", [41], []),
        ("rounded floats", list(range(1, 41)), list(range(1, 41))),
    ],
)
def test_each_change_of_content_changes_the_digest_and_the_diff_names_the_rows(
    tmp_path: Path, change: str, added: list[int], removed: list[int]
) -> None:
    frame = _frame()
    before = tmp_path / "before.csv"
    frame.to_csv(before, index=False)
    if change == "changed cell":
        frame.loc[3, "name"] = "someone else"
    elif change == "dropped row":
        frame = frame.drop(index=9)
    elif change == "duplicated row":
        frame = pd.concat([frame, frame.iloc[[2]]])
    else:
        frame["income"] = frame["income"].round(1)
    after = tmp_path / "after.csv"
    frame.to_csv(after, index=False)
    assert table_identity(before).content_digest != table_identity(after).content_digest
    found = compare_table_files("t.csv", before, after)
    assert found.verdict == DIFFERENT_CONTENT
    assert (found.rows_added, found.rows_removed) == (len(added), len(removed))
    assert [row.row for row in found.added] == added[:5]
    assert [row.row for row in found.removed] == removed[:5]
    if change == "changed cell":
        assert found.added[0].cells["name"] == "someone else"
        assert found.removed[0].cells["name"] == "n3"
    if change == "duplicated row":
        assert found.added[0].cells["id"] == "2"


def test_same_table_in_new_bytes_is_one_verdict_naming_what_differs(saved: dict[str, Path], tmp_path: Path) -> None:
    found = compare_table_files("t.csv", saved["plain"], saved["reordered"])
    assert (found.verdict, found.layout) == (SAME_TABLE, ("column order",))
    found = compare_table_files("t.csv", saved["plain"], saved["crlf"])
    assert found.layout == ("line endings: lf -> crlf",)
    found = compare_table_files("t.csv", saved["plain"], saved["parquet"], name_b="t.parquet")
    assert (found.verdict, found.layout) == (SAME_TABLE, ("format: csv -> parquet",))
    shuffled = tmp_path / "shuffled.csv"
    _frame().iloc[::-1].to_csv(shuffled, index=False)
    assert compare_table_files("t.csv", saved["plain"], shuffled).layout == ("row order",)


def test_another_dataset_under_the_same_name_is_different_content_with_row_and_column_changes(tmp_path: Path) -> None:
    ours = tmp_path / "ours.csv"
    _frame().to_csv(ours, index=False)
    theirs = tmp_path / "theirs.csv"
    pd.DataFrame({"id": [1, 2, 3], "city": ["a", "b", "c"], "income": ["x", "y", "z"]}).to_csv(theirs, index=False)
    found = compare_table_files("data.csv", ours, theirs)
    assert found.verdict == DIFFERENT_CONTENT
    assert found.columns_added == ("city",)
    assert found.columns_removed == ("name", "ok", "zip", "score")
    assert [(item.column, item.a, item.b) for item in found.columns_retyped] == [("income", "float", "string")]
    assert (found.rows_a, found.rows_b, found.rows_added, found.rows_removed) == (40, 3, 3, 40)
    assert "1 rows" not in found.summary()
    assert found.summary().startswith("different content: 3 rows added, 40 removed, column added: city")


def test_strict_numbers_and_nulls(tmp_path: Path) -> None:
    def digest(text: str) -> str:
        path = tmp_path / "t.csv"
        path.write_text(text)
        return table_identity(path).content_digest

    assert digest("a\n007\n1\n") != digest("a\n7\n1\n")  # a zip code losing its zero is a change
    assert digest("a\n1.50\n2\n") == digest("a\n1.5\n2.0\n")  # one float column, same values
    assert digest("a,b\n1,x\n,y\n") == digest("a,b\n1,x\nNaN,y\n")  # empty and NaN are both null
    assert digest("a,b\n1,x\n") != digest("b,a\n1,x\n")  # names tie cells to columns
    assert digest("a\n1\n2\n") != digest("a\n1\n2\n2\n")
    path = tmp_path / "dup.csv"
    path.write_text("a,a\n1,2\n")
    with pytest.raises(DataError, match="two columns named 'a'"):
        table_identity(path)


def test_a_type_widened_in_a_later_block_gives_the_digest_of_one_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wide.csv"
    lines = ["id,value"] + [f"{i},{i}" for i in range(3000)] + ["3000,0.5"]
    path.write_text("\n".join(lines) + "\n")
    whole = table_identity(path)
    monkeypatch.setattr(_tablefile, "_BLOCK", 4096)  # many blocks: the first ones hold only integers
    blocks = table_identity(path)
    assert [column.type for column in blocks.columns] == ["int", "float"]
    assert (blocks.content_digest, blocks.ordered_digest) == (whole.content_digest, whole.ordered_digest)


def test_text_columns_read_dictionary_encoded_give_the_digests_of_plain_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "repeats.csv"
    cities, flags = ["Paris", "Lyon", "", "NaN", "caf\u00e9"], ["true", "False", "", "TRUE"]
    rows = [
        f"{i % 7},{cities[i % 5]},{flags[i % 4]},0{i % 50:04d},{'x' if i > 30_000 else i % 3}" for i in range(60_000)
    ]
    path.write_text("n,city,flag,zip,mixed\n" + "\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(_tablefile, "_BLOCK", 65_536)  # many batches, each with its own dictionary
    encoded = table_identity(path)
    assert [str(column.type) for column in next(_tablefile.open_table(path, "repeats.csv").batches)][1:3] == [
        "dictionary<values=string, indices=int32, ordered=0>"
    ] * 2
    monkeypatch.setattr(_tablefile, "_REPEATS", 0)  # no column dictionary-encoded
    assert all(str(column.type) == "string" for column in next(_tablefile.open_table(path, "r.csv").batches))
    plain = table_identity(path)
    assert [(c.name, c.type) for c in plain.columns] == [
        ("n", "int"),
        ("city", "string"),
        ("flag", "bool"),
        ("zip", "string"),
        ("mixed", "string"),
    ]
    assert encoded == plain


def test_a_digest_does_not_import_pandas(saved: dict[str, Path]) -> None:
    # pyarrow's conversions to and from numpy and Python values import pandas: a fifth of a second in a fresh process.
    script = (
        "import sys; from pathlib import Path; from reprise.data.identity import table_identity\n"
        f"for path in {[str(path) for path in saved.values()]!r}: table_identity(Path(path))\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'pandas'))"
    )
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert done.stdout.strip() == "[]"


def test_a_cell_that_is_not_utf8_past_the_sniffed_start_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(40_000)) + b"1,caf\xe9\n")
    with pytest.raises(DataError, match=r"cannot read bad.csv as csv: In CSV column #1: invalid UTF8 data"):
        table_identity(path)


@pytest.mark.parametrize(
    ("name", "data", "columns", "layout"),
    [
        ("cr.csv", b"a,b\r1,x\r2,y\r", [("a", "int"), ("b", "string")], ("utf-8", "cr")),
        ("latin1.csv", "a,b\n1,caf\xe9\n2,y\n".encode("latin-1"), [("a", "int"), ("b", "string")], ("latin-1", "lf")),
        ("utf16.csv", "a,b\n1,café\n2,y\n".encode("utf-16"), [("a", "int"), ("b", "string")], ("utf-16", "lf")),
        ("big.csv", b"a,b\n99999999999999999999,x\n1,y\n", [("a", "string"), ("b", "string")], ("utf-8", "lf")),
        ("zero.csv", b"a,b\n-0,x\n-5,y\n", [("a", "float"), ("b", "string")], ("utf-8", "lf")),
    ],
)
def test_encodings_line_endings_and_edge_numbers(
    tmp_path: Path, name: str, data: bytes, columns: list[tuple[str, str]], layout: tuple[str, str]
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    found = table_identity(path)
    assert [(c.name, c.type) for c in found.columns] == columns
    assert (found.layout.encoding, found.layout.line_ending) == layout
    assert found.rows == 2


def test_nested_parquet_columns_are_refused_with_a_hint(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"l": [[1, 2], [3]]}), path)
    with pytest.raises(DataError, match=r"type list<.*> has no text form") as raised:
        table_identity(path)
    assert raised.value.hint is not None and "flatten nested columns" in raised.value.hint
