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
pyarrow's parser over 4 MiB blocks, typed and hashed per block with numpy, with memory bounded by a few blocks.
When a later block widens a column's type (ints, then a float), the file is read a second time with the final
types, so a digest never depends on where blocks fall.

Example:
    >>> a = table_identity(Path("train.csv"))                    # doctest: +SKIP
    >>> b = table_identity(Path("train.parquet"))                # doctest: +SKIP
    >>> a.content_digest == b.content_digest                     # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Final, TypeVar

from pydantic import BaseModel, ConfigDict

from reprise._canonical import canonical_json, digest
from reprise.data._cells import SCHEME, CellType, Typed, cell_lanes, join_types, key, mix, pinned, typed
from reprise.data._tablefile import Layout, TableStream, open_table, table_format

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

__all__ = ["SCHEME", "TableColumn", "TableIdentity", "TableLayout", "is_table", "row_hashes", "table_identity"]

_ROW_KEYS: Final = (key("row", "0"), key("row", "1"))
_ACCUMULATOR_KEYS: Final = (key("accumulate", "0"), key("accumulate", "1"))
_MASK: Final = (1 << 64) - 1
_T = TypeVar("_T")


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
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="reprise-table") as pool:
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
        yield _rows([cell_lanes(column, pinned(batch[index[column]], kind)) for column, kind in types.items()], count)


def _digest_pass(stream: TableStream, pins: dict[str, CellType], pool: Executor) -> TableIdentity | None:
    """One read: the identity, or None when a column's type widened after it was hashed (``pins`` then holds all)."""
    import numpy as np

    for column in stream.names:
        pins.setdefault(column, "null")
    sums = [0, 0, 0, 0]
    ordered = hashlib.sha256()
    rows, widened = 0, False
    for batch in _read_ahead(stream.batches):
        count = len(batch[0]) if batch else 0
        lanes: list[tuple[np.ndarray, np.ndarray]] = []
        for column, values, (found, hashed_cells) in zip(
            stream.names, batch, pool.map(_typed_lanes, stream.names, batch), strict=True
        ):
            before = pins[column]
            pins[column] = grown = join_types(before, found.type)
            # Cells hashed so far under a narrower type would hash differently now (null cells do not).
            widened = widened or before not in ("null", grown)
            if not widened:
                # A batch narrower than its column (ints in a float column) is hashed again under the column's type.
                same = found.type in (grown, "null")
                lanes.append(hashed_cells if same else cell_lanes(column, pinned(values, grown)))
        rows += count
        if widened or not count:
            continue
        hashed = _rows(lanes, count)
        ordered.update(np.ascontiguousarray(hashed, dtype="<u8").tobytes())
        for lane in (0, 1):
            sums[lane] = (sums[lane] + int(hashed[:, lane].sum())) & _MASK
            remixed = mix(hashed[:, lane] ^ np.uint64(_ACCUMULATOR_KEYS[lane]))
            sums[2 + lane] = (sums[2 + lane] + int(remixed.sum())) & _MASK
    if widened:
        return None
    columns = tuple(TableColumn(name=column, type=pins[column]) for column in stream.names)
    header = sorted([column.name, column.type] for column in columns)
    head = {"scheme": SCHEME, "header": header}
    ordered_head = canonical_json({**head, "ordered": True}).encode()
    return TableIdentity(
        rows=rows,
        columns=columns,
        content_digest=digest({**head, "rows": rows, "multiset": [f"{value:016x}" for value in sums]}),
        ordered_digest="sha256:" + hashlib.sha256(ordered_head + ordered.digest()).hexdigest(),
        layout_digest=digest({"scheme": SCHEME, "layout": [[column.name, column.type] for column in columns]}),
        layout=_layout(stream.layout),
    )


def _typed_lanes(column: str, values: pa.Array) -> tuple[Typed, tuple[np.ndarray, np.ndarray]]:
    """One batch column typed by its own values and hashed under that type (one task on the pool)."""
    found = typed(values)
    return found, cell_lanes(column, found)


def _rows(lanes: list[tuple[np.ndarray, np.ndarray]], count: int) -> np.ndarray:
    """Each row's two lanes: fmix64 of the row key plus the sum of its cells' lanes."""
    import numpy as np

    sums = [np.full(count, _ROW_KEYS[0], dtype=np.uint64), np.full(count, _ROW_KEYS[1], dtype=np.uint64)]
    for first, second in lanes:
        sums[0] += first
        sums[1] += second
    return np.stack([mix(sums[0]), mix(sums[1])], axis=1)


def _read_ahead(batches: Iterator[_T]) -> Iterator[_T]:
    """``batches``, read one ahead on a thread, so parsing the next block overlaps hashing this one."""
    ahead: queue.Queue[tuple[_T | None, BaseException | None, bool]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                if stop.is_set():
                    return
                ahead.put((item, None, False))
            ahead.put((None, None, True))
        except BaseException as exc:  # handed to the consumer, raised there
            ahead.put((None, exc, True))

    thread = threading.Thread(target=produce, name="reprise-table-read", daemon=True)
    thread.start()
    try:
        while True:
            item, error, done = ahead.get()
            if error is not None:
                raise error
            if done:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():  # let a producer blocked on a full queue finish
            with contextlib.suppress(queue.Empty):
                ahead.get(timeout=0.05)
        thread.join()


def _layout(layout: Layout) -> TableLayout:
    return TableLayout(
        format=layout.format,
        encoding=layout.encoding,
        bom=layout.bom,
        delimiter=layout.delimiter,
        line_ending=layout.line_ending,
        quoting=layout.quoting,
    )
