"""What changed between two versions of one table file: the same table under new bytes, or new content, and where.

:func:`compare_table_files` gives one of three verdicts. **Identical bytes**; **same table, different bytes** (the
content digests of :mod:`reprise.data.identity` agree), with what differs in how the bytes are written (format,
encoding, byte-order mark, delimiter, line endings, quoting, column order, row order, or only how cells are written,
such as ``1.50`` for ``1.5``); or **different content**, with columns added, removed or retyped and rows added and
removed: the multiset difference of the 128-bit row hashes over the columns both sides share, counted and sampled
(row numbers and cells, as text). Memory is 16 bytes per row for the hashes plus the sampled rows; the files are
read in a streaming way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel, ConfigDict

from reprise.data._tablefile import open_table
from reprise.data.identity import TableIdentity, row_hashes, table_identity

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import numpy as np

    from reprise.data._cells import CellType

__all__ = [
    "DIFFERENT_CONTENT",
    "IDENTICAL_BYTES",
    "SAME_TABLE",
    "RetypedColumn",
    "SampleRow",
    "TableChange",
    "compare_table_files",
]

IDENTICAL_BYTES: Final = "identical bytes"
SAME_TABLE: Final = "same table, different bytes"
DIFFERENT_CONTENT: Final = "different content"
_SAMPLE: Final = 5
_LAYOUT_FIELDS: Final = (
    ("format", "format"),
    ("encoding", "encoding"),
    ("bom", "byte-order mark"),
    ("delimiter", "delimiter"),
    ("line_ending", "line endings"),
    ("quoting", "quoting"),
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetypedColumn(_Frozen):
    """A column both sides hold under different types (``int``, ``float``, ``bool``, ``string``, ``null``)."""

    column: str
    a: str
    b: str


class SampleRow(_Frozen):
    """One row added or removed: its 1-based row number in its file (header not counted) and its cells as text."""

    row: int
    cells: dict[str, str | None]


class TableChange(_Frozen):
    """The verdict on one table file between two sides, and what differs.

    Attributes:
        path: The file.
        verdict: ``identical bytes``, ``same table, different bytes`` or ``different content``.
        layout: What differs in how the bytes are written, e.g. ``line endings: lf -> crlf``, ``column order``.
        rows_a: Rows on side A.
        rows_b: Rows on side B.
        rows_added: Rows of B that A does not hold (with multiplicity), over the columns both hold.
        rows_removed: Rows of A that B does not hold.
        added: A sample of the rows added.
        removed: A sample of the rows removed.
        columns_added: Columns only B holds.
        columns_removed: Columns only A holds.
        columns_retyped: Columns whose type changed.
        content_a: Side A's content digest.
        content_b: Side B's content digest.
    """

    path: str
    verdict: Literal["identical bytes", "same table, different bytes", "different content"]
    layout: tuple[str, ...] = ()
    rows_a: int
    rows_b: int
    rows_added: int = 0
    rows_removed: int = 0
    added: tuple[SampleRow, ...] = ()
    removed: tuple[SampleRow, ...] = ()
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    columns_retyped: tuple[RetypedColumn, ...] = ()
    content_a: str
    content_b: str

    def summary(self) -> str:
        """One line: the verdict and its main facts (what ``reprise reproduce`` and ``verify`` print)."""
        if self.verdict != DIFFERENT_CONTENT:
            return f"{self.verdict}" + (f" ({', '.join(self.layout)})" if self.layout else "")
        parts = [f"{self.rows_added} rows added", f"{self.rows_removed} removed"]
        parts += [f"column added: {name}" for name in self.columns_added]
        parts += [f"column removed: {name}" for name in self.columns_removed]
        parts += [f"column retyped: {item.column} {item.a} -> {item.b}" for item in self.columns_retyped]
        return f"{self.verdict}: " + ", ".join(parts)


def compare_table_files(path: str, file_a: Path, file_b: Path, *, name_b: str | None = None) -> TableChange:
    """Compare two versions of a table file and give the verdict (see the module docstring).

    Args:
        path: The file's name (reported; its suffix gives side A's format).
        file_a: Side A's bytes.
        file_b: Side B's bytes.
        name_b: Side B's name when it differs (its suffix gives B's format: a CSV may become Parquet).

    Returns:
        The verdict and the differences.

    Raises:
        DataError: A side cannot be read as a table.

    Example:
        >>> compare_table_files("train.csv", Path("old.csv"), Path("train.csv")).summary()    # doctest: +SKIP
        'different content: 1 rows added, 0 removed'
    """
    label_b = name_b or path
    if _small(file_a, file_b) and file_a.read_bytes() == file_b.read_bytes():
        identity = table_identity(file_a, path)
        return _same(path, identity, identity, IDENTICAL_BYTES)
    a, b = table_identity(file_a, path), table_identity(file_b, label_b)
    if a.content_digest == b.content_digest:
        return _same(path, a, b, SAME_TABLE)
    types_a = {column.name: column.type for column in a.columns}
    types_b = {column.name: column.type for column in b.columns}
    common = [name for name in types_a if name in types_b]
    removed_rows, added_rows = _row_changes(
        _hashes(file_a, path, {name: types_a[name] for name in common}, a.rows),
        _hashes(file_b, label_b, {name: types_b[name] for name in common}, b.rows),
    )
    return TableChange(
        path=path,
        verdict=DIFFERENT_CONTENT,
        layout=_layout_changes(a, b),
        rows_a=a.rows,
        rows_b=b.rows,
        rows_added=len(added_rows),
        rows_removed=len(removed_rows),
        added=_sample(file_b, label_b, added_rows[:_SAMPLE]),
        removed=_sample(file_a, path, removed_rows[:_SAMPLE]),
        columns_added=tuple(name for name in types_b if name not in types_a),
        columns_removed=tuple(name for name in types_a if name not in types_b),
        columns_retyped=tuple(
            RetypedColumn(column=name, a=types_a[name], b=types_b[name])
            for name in common
            if types_a[name] != types_b[name]
        ),
        content_a=a.content_digest,
        content_b=b.content_digest,
    )


def _small(file_a: Path, file_b: Path) -> bool:
    """Whether both files are small enough to compare byte for byte in memory (and of one size)."""
    size = file_a.stat().st_size
    return size == file_b.stat().st_size and size <= 64 << 20


def _same(path: str, a: TableIdentity, b: TableIdentity, verdict: str) -> TableChange:
    layout = (
        () if verdict == IDENTICAL_BYTES else _layout_changes(a, b) or ("how cells are written (e.g. 1.50 for 1.5)",)
    )
    return TableChange(
        path=path,
        verdict=IDENTICAL_BYTES if verdict == IDENTICAL_BYTES else SAME_TABLE,
        layout=layout,
        rows_a=a.rows,
        rows_b=b.rows,
        content_a=a.content_digest,
        content_b=b.content_digest,
    )


def _layout_changes(a: TableIdentity, b: TableIdentity) -> tuple[str, ...]:
    # Across formats (CSV to Parquet) the text layout (encoding, delimiter...) is moot: the format says it all.
    fields = _LAYOUT_FIELDS[:1] if a.layout.format != b.layout.format else _LAYOUT_FIELDS
    changes = [
        f"{label}: {_shown(getattr(a.layout, field))} -> {_shown(getattr(b.layout, field))}"
        for field, label in fields
        if getattr(a.layout, field) != getattr(b.layout, field)
    ]
    if a.layout_digest != b.layout_digest and {c.name for c in a.columns} == {c.name for c in b.columns}:
        changes.append("column order")
    if a.content_digest == b.content_digest and a.ordered_digest != b.ordered_digest:
        changes.append("row order")
    return tuple(changes)


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return repr(value) if value in ("\t", ",", ";", "|") else str(value)


def _hashes(file: Path, name: str, types: Mapping[str, CellType], rows: int) -> np.ndarray:
    """Every row's hash over ``types``' columns, one 16-byte record per row (all rows equal when there is none)."""
    import numpy as np

    if not types:
        return np.zeros(rows, dtype="V16")
    parts = [np.ascontiguousarray(batch) for batch in row_hashes(file, name, types)]
    joined = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.uint64)
    return joined.view("V16").reshape(-1)


def _row_changes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (0-based, ascending) of A's rows B lacks and of B's rows A lacks, counting duplicates."""
    import numpy as np

    values, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    side_a, side_b = inverse[: len(a)], inverse[len(a) :]
    count_a = np.bincount(side_a, minlength=len(values))
    count_b = np.bincount(side_b, minlength=len(values))
    kept = np.minimum(count_a, count_b)
    return _beyond(side_a, kept), _beyond(side_b, kept)


def _beyond(groups: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Indices of the rows whose rank among equal rows (in file order) is at least ``kept`` of their group."""
    import numpy as np

    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    first = np.searchsorted(sorted_groups, sorted_groups, side="left")
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - first
    return np.flatnonzero(rank >= kept[groups])


def _sample(file: Path, name: str, indices: Sequence[int] | np.ndarray) -> tuple[SampleRow, ...]:
    """The rows at ``indices`` (0-based, ascending) with their cells as text, read in one streaming pass."""
    wanted = [int(index) for index in indices]
    if not wanted:
        return ()
    stream = open_table(file, name)
    found: list[SampleRow] = []
    offset = 0
    for batch in stream.batches:
        count = len(batch[0]) if batch else 0
        for index in (item for item in wanted if offset <= item < offset + count):
            cells = {
                column: _text(values[index - offset].as_py())
                for column, values in zip(stream.names, batch, strict=True)
            }
            found.append(SampleRow(row=index + 1, cells=cells))
        offset += count
        if offset > wanted[-1]:
            break
    return tuple(found)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
