"""The content identity of a table: the same table saved another way keeps its digest; any change of content does not.

Byte hashes answer "same bytes?". A table saved again with other line endings, a byte-order mark, other quoting,
its columns in another order, or as Parquet instead of CSV holds the same data under new bytes; a file of another
dataset saved under the old name holds new data. :func:`table_identity` tells them apart.

Scheme ``reprise-table-v1`` (a digest made under it stays comparable across releases of Reprise, pandas and pyarrow;
any change to these rules gets a new scheme name):

1. **Parse.** CSV/TSV: byte-order mark stripped; encoding from the mark, else UTF-8, else Latin-1; delimiter the
   most frequent of ``, TAB ; |`` in the header; the header row names the columns; every cell is read as its exact
   text (quotes removed, line endings gone). Parquet: the stored values; text, dictionary and other types (dates,
   decimals...) as their Arrow text form. Two columns with one name are refused.
2. **Type each column once**, over all its cells: a cell that is empty, ``NaN``, ``nan`` or ``NAN`` (or a Parquet
   null or float NaN) is null. A column is ``int`` when every other cell is a canonical decimal integer that fits
   int64 (``7``, ``-12``; not ``+7``, ``007`` or ``-0``), else ``float`` when every one is a strict float
   (``1.5``, ``-0.25``, ``1e-05``, ``inf``; not ``.5``, ``5.``, ``+1.5`` or ``01.5``; integers count), else
   ``bool`` when every one is ``true``/``false`` in any case, else ``string`` (the text exactly, byte for byte);
   ``null`` when it holds no value. Parquet integer and float columns are ``int`` and ``float`` (``null`` when
   empty), boolean ones ``bool``.
3. **Encode every cell with its type** in two 64-bit lanes, each keyed by sha256(scheme, column name, type, lane):
   int as its int64 bits, float as its IEEE-754 float64 bits (``-0.0`` as ``0.0``; parsed correctly rounded, so
   ``1.50`` and ``1.5`` are one value and a rounded column is another), bool as 0/1, each put through MurmurHash3's
   ``fmix64`` after the key is XOR-ed in; a string as ``fmix64`` of (the sum over its 8-byte little-endian words
   ``w_k``, bytes past its end zeroed, at least one word, of ``fmix64(w_k + word key k)``, lane 1 each term rotated
   left by 31 bits; XOR its byte length times a constant), then keyed as above; null as one constant per
   column. All arithmetic is modulo 2**64.
4. **Hash each row** over its (column name, cell) pairs: per lane, ``fmix64`` of the sum of its cells' lanes plus a
   row key. A sum does not see column order; the keys tie each cell to its column and type.
5. **Digests** (``sha256:<hex>``), each over canonical JSON of the scheme and the sorted ``[name, type]`` header:
   the **content digest** adds the row count and four multiset accumulators (the sum over rows of each lane, and
   of each lane remixed under another key), so row order does not matter and duplicated or dropped rows do; the
   **ordered digest** adds the row hashes in file order; the **layout digest** is over the names and types in file
   order. How the bytes are laid out (encoding, mark, delimiter, line endings, quoting) is recorded, outside every
   digest.

A row hash is 128 bits from fixed constants: it detects any accidental change (one changed numeric cell always
changes its row's hash, since each lane of a cell is a bijection of its value), but it is not a cryptographic hash;
the sha256 of the bytes in the manifest stays the check against tampering. Reading is streaming: one pass of
pyarrow's parser over 4 MiB blocks, each typed and hashed with numpy on a pool of threads while the next ones are
parsed, with memory bounded by a few blocks. When a later block widens a column's type (ints, then a float), the
file is read a second time with the final types, so a digest never depends on where blocks fall.

Example:
    >>> a = table_identity(Path("train.csv"))                    # doctest: +SKIP
    >>> b = table_identity(Path("train.parquet"))                # doctest: +SKIP
    >>> a.content_digest == b.content_digest                     # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, ConfigDict

from reprise._canonical import canonical_json, digest
from reprise.data._cells import SCHEME, CellType, Typed, cell_lanes, join_types, key, mix, pinned, typed
from reprise.data._tablefile import Layout, TableStream, open_table, table_format

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from pathlib import Path

    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

__all__ = ["SCHEME", "TableColumn", "TableIdentity", "TableLayout", "is_table", "row_hashes", "table_identity"]

_ROW_KEYS: Final = (key("row", "0"), key("row", "1"))
_ACCUMULATOR_KEYS: Final = (key("accumulate", "0"), key("accumulate", "1"))
_MASK: Final = (1 << 64) - 1
_WORKERS: Final = min(4, os.cpu_count() or 1)
#: Batches read ahead of the oldest one still being hashed (each holds a 4 MiB block, parsed, and its hashes).
_AHEAD: Final = 2 * _WORKERS


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TableColumn(_Frozen):
    """A column as the scheme types it: ``null``, ``bool``, ``int``, ``float`` or ``string``."""

    name: str
    type: CellType


class TableLayout(_Frozen):
    """How a table's bytes are written (see :class:`reprise.data._tablefile.Layout`); never part of a digest."""

    format: str
    encoding: str | None = None
    bom: bool = False
    delimiter: str | None = None
    line_ending: str | None = None
    quoting: str | None = None


class TableIdentity(_Frozen):
    """What a table holds, independent of how its bytes are written.

    Attributes:
        scheme: The identity scheme (``reprise-table-v1``): digests compare only under one scheme.
        rows: Number of data rows.
        columns: The columns in file order, with their types.
        content_digest: Over the header (sorted) and the multiset of rows: row and column order do not matter.
        ordered_digest: Over the header (sorted) and the rows in order.
        layout_digest: Over the columns in file order.
        layout: Encoding, byte-order mark, delimiter, line endings, quoting (outside every digest).
    """

    scheme: str = SCHEME
    rows: int
    columns: tuple[TableColumn, ...]
    content_digest: str
    ordered_digest: str
    layout_digest: str
    layout: TableLayout


def is_table(path: str) -> bool:
    """Whether ``path`` names a file the scheme reads (``.csv``, ``.tsv``, ``.parquet``, ``.pq``)."""
    return table_format(path) is not None


def table_identity(file: Path, name: str | None = None) -> TableIdentity:
    """Compute the content identity of one CSV, TSV or Parquet file (streaming, bounded memory).

    Args:
        file: The file.
        name: Its name for the format (by suffix) and messages (default: the file's name).

    Returns:
        The identity.

    Raises:
        DataError: The file cannot be read or parsed, or two columns share a name.

    Example:
        >>> table_identity(Path("data/train.csv")).content_digest    # doctest: +SKIP
        'sha256:5f0c...'
    """
    label = name or file.name
    pins: dict[str, CellType] = {}
    with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="reprise-table") as pool:
        found = _digest_pass(open_table(file, label), pins, pool)
        if found is None:  # a column widened after blocks were hashed under its narrower type: read again, pinned
            found = _digest_pass(open_table(file, label), pins, pool)
    if found is None:  # pragma: no cover - pinned types never widen again
        raise AssertionError(f"{label}: column types widened on the pinned read")
    return found


def row_hashes(file: Path, name: str, types: Mapping[str, CellType]) -> Iterator[np.ndarray]:
    """The 128-bit hash of every row of ``file`` over the columns in ``types`` only, typed as given, in file order.

    The diff uses it to compare two tables on their common columns (:mod:`reprise.data.tablediff`).

    Args:
        file: The table.
        name: Its name (format by suffix; messages).
        types: The columns to hash and their types (from a :class:`TableIdentity`).

    Yields:
        Per batch, an ``(n, 2)`` uint64 array.

    Raises:
        DataError: The file cannot be read or lacks a column.
    """
    stream = open_table(file, name)
    index = {column: position for position, column in enumerate(stream.names)}
    for batch in stream.batches:
        count = len(batch[0]) if batch else 0
        yield _rows(((column, pinned(batch[index[column]], kind)) for column, kind in types.items()), count).hashes


@dataclass(frozen=True)
class _Rows:
    """One batch's row hashes (``(n, 2)`` uint64, file order) and its terms of the four multiset sums."""

    hashes: np.ndarray
    sums: tuple[int, int, int, int]


@dataclass(frozen=True)
class _Batch:
    """One batch as a worker found it: each column's type by the batch's own cells, and its rows hashed so."""

    types: tuple[CellType, ...]
    rows: _Rows | None


def _digest_pass(stream: TableStream, pins: dict[str, CellType], pool: Executor) -> TableIdentity | None:
    """One read: the identity, or None when a column's type widened after it was hashed (``pins`` then holds all).

    Batches are typed and hashed on the pool, several at once, while this thread reads the next ones; their
    results are taken in file order, which is where a batch's types are joined with those before it.
    """
    for column in stream.names:
        pins.setdefault(column, "null")
    digest = _Digest(stream.names, pins)
    pending: deque[tuple[list[pa.Array], Future[_Batch]]] = deque()
    for batch in stream.batches:
        pending.append((batch, pool.submit(_hashed, stream.names, batch, dict(pins), not digest.widened)))
        while pending and (len(pending) > _AHEAD or pending[0][1].done()):
            done, future = pending.popleft()
            digest.add(done, future.result())
    while pending:
        done, future = pending.popleft()
        digest.add(done, future.result())
    return None if digest.widened else digest.identity(stream.layout)


def _hashed(names: tuple[str, ...], batch: list[pa.Array], pins: Mapping[str, CellType], hashing: bool) -> _Batch:
    """Type one batch by its own cells and hash its rows so (one task on the pool).

    A column already typed ``string`` by earlier batches stays a string whatever this batch holds, so its cells
    are not typed again (``pins`` are the types when the batch was read: a column's type only widens after).
    """
    cells = [
        pinned(values, "string") if pins[column] == "string" else typed(values)
        for column, values in zip(names, batch, strict=True)
    ]
    types = tuple(found.type for found in cells)
    count = len(batch[0]) if batch else 0
    if not hashing or not count:
        return _Batch(types, None)
    return _Batch(types, _rows(zip(names, cells, strict=True), count))


class _Digest:
    """The digests of one read, batch by batch in file order: types joined, rows counted, hashes folded in."""

    def __init__(self, names: tuple[str, ...], pins: dict[str, CellType]) -> None:
        self.names, self.pins = names, pins
        self.rows, self.widened = 0, False
        self.sums = [0, 0, 0, 0]
        self.ordered = hashlib.sha256()

    def add(self, batch: list[pa.Array], found: _Batch) -> None:
        """Join the batch's types with the column types so far, and fold its rows in under the joined types."""
        narrower = False
        for column, kind in zip(self.names, found.types, strict=True):
            before = self.pins[column]
            self.pins[column] = grown = join_types(before, kind)
            # Cells hashed so far under a narrower type would hash differently now (null cells do not).
            self.widened = self.widened or before not in ("null", grown)
            narrower = narrower or kind not in (grown, "null")
        count = len(batch[0]) if batch else 0
        self.rows += count
        if self.widened or not count or found.rows is None:
            return
        import numpy as np

        rows = found.rows
        if narrower:  # a batch narrower than its column (ints in a float column): hashed again under the column's
            columns = zip(self.names, batch, strict=True)
            rows = _rows(((name, pinned(values, self.pins[name])) for name, values in columns), count)
        self.ordered.update(np.ascontiguousarray(rows.hashes, dtype="<u8").data)
        self.sums = [(total + term) & _MASK for total, term in zip(self.sums, rows.sums, strict=True)]

    def identity(self, layout: Layout) -> TableIdentity:
        columns = tuple(TableColumn(name=column, type=self.pins[column]) for column in self.names)
        header = sorted([column.name, column.type] for column in columns)
        head = {"scheme": SCHEME, "header": header}
        ordered_head = canonical_json({**head, "ordered": True}).encode()
        return TableIdentity(
            rows=self.rows,
            columns=columns,
            content_digest=digest({**head, "rows": self.rows, "multiset": [f"{value:016x}" for value in self.sums]}),
            ordered_digest="sha256:" + hashlib.sha256(ordered_head + self.ordered.digest()).hexdigest(),
            layout_digest=digest({"scheme": SCHEME, "layout": [[column.name, column.type] for column in columns]}),
            layout=_layout(layout),
        )


def _rows(columns: Iterable[tuple[str, Typed]], count: int) -> _Rows:
    """Each row's two lanes (fmix64 of the row key plus the sum of its cells' lanes), and their multiset terms."""
    import numpy as np

    hashes, lanes, scratch = (np.empty((count, 2), dtype=np.uint64) for _ in range(3))
    for lane in (0, 1):  # lane by lane: numpy broadcasting a pair of keys would loop per row
        hashes[:, lane] = _ROW_KEYS[lane]
    for name, cells in columns:
        hashes += cell_lanes(name, cells, lanes, scratch)
    mix(hashes, scratch)
    remixed = lanes
    np.copyto(remixed, hashes)
    for lane in (0, 1):
        remixed[:, lane] ^= np.uint64(_ACCUMULATOR_KEYS[lane])
    mix(remixed, scratch)
    first, second = (hashes[:, lane].sum() for lane in (0, 1))
    third, fourth = (remixed[:, lane].sum() for lane in (0, 1))
    return _Rows(hashes, (int(first), int(second), int(third), int(fourth)))


def _layout(layout: Layout) -> TableLayout:
    return TableLayout(
        format=layout.format,
        encoding=layout.encoding,
        bom=layout.bom,
        delimiter=layout.delimiter,
        line_ending=layout.line_ending,
        quoting=layout.quoting,
    )
