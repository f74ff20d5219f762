"""Reading a CSV, TSV or Parquet file as a stream of column batches, and how its bytes are laid out.

CSV and TSV are parsed by pyarrow's streaming reader with every column read as raw text (no type guessing by the
reader: :mod:`reprise.data._cells` types them), so quoting and line endings are gone before anything is hashed and
memory stays at a few blocks whatever the file's size. Cells are read as bytes and checked to be UTF-8 per column
(a pass at memory speed when the column is ASCII, which costs far less than the reader's check of every cell), and
a column whose cells repeat in the first 64 KiB is read dictionary-encoded, so each batch holds its distinct values
once (types, digests and cells are the same either way). The encoding comes from a byte-order mark (UTF-8, UTF-16),
else UTF-8 when the first 64 KiB decode as UTF-8, else Latin-1; the delimiter is the most frequent of ``, TAB ; |``
in the header (the suffix's default on a tie). The header is read by the same parser as the data (it is the first
row of the first batch), so a quoted or BOM-prefixed header is named exactly as the data is read. Parquet is read
batch by batch from its row groups.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

__all__ = ["Layout", "TableStream", "open_table", "table_format"]

_FORMATS: Final = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_SAMPLE: Final = 64 << 10
_BLOCK: Final = 4 << 20
_PARQUET_BATCH: Final = 131_072
_DELIMITERS: Final = (",", "\t", ";", "|")
#: A column is read dictionary-encoded when at least one in this many of its sampled cells repeats an earlier one.
_REPEATS: Final = 8
_ASCII: Final = 0x8080808080808080
#: What a sampled cell of a number column looks like (empty cells included).
_NUMBER: Final = re.compile(r"[-+.0-9eE]*\Z")


@dataclass(frozen=True)
class Layout:
    """How a table's bytes are written: none of it is the table's content.

    Attributes:
        format: ``csv``, ``tsv`` or ``parquet``.
        encoding: ``utf-8``, ``utf-16`` or ``latin-1`` (None for Parquet).
        bom: Whether the file starts with a byte-order mark.
        delimiter: The field separator (None for Parquet).
        line_ending: ``lf``, ``crlf`` or ``cr`` (None for Parquet or a file of one line without an ending).
        quoting: ``none`` (no quote anywhere in the first 64 KiB), ``all`` (every field of the header quoted),
            else ``minimal`` (None for Parquet).
    """

    format: str
    encoding: str | None = None
    bom: bool = False
    delimiter: str | None = None
    line_ending: str | None = None
    quoting: str | None = None


@dataclass(frozen=True)
class TableStream:
    """An open table: its layout, its column names in file order, and its batches (each a list of columns)."""

    layout: Layout
    names: tuple[str, ...]
    batches: Iterator[list[pa.Array]]


def table_format(path: str) -> str | None:
    """``csv``, ``tsv`` or ``parquet`` from the file name's suffix (None for any other file)."""
    dot = path.rfind(".")
    return None if dot < 0 else _FORMATS.get(path[dot:].lower())


def open_table(file: Path, name: str) -> TableStream:
    """Open ``file`` (named ``name`` in messages and for its format) as a stream of column batches.

    Raises:
        DataError: The file cannot be read or parsed, or two columns share a name.
    """
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    kind = table_format(name) or "csv"
    try:
        stream = _parquet(file) if kind == "parquet" else _csv(file, kind)
    except (pa.ArrowException, OSError, UnicodeError, csv.Error) as exc:
        raise DataError(
            f"cannot read {name} as {kind}: {_first_line(exc)}", hint=f"check that {name} is {kind}"
        ) from exc
    seen: set[str] = set()
    for column in stream.names:
        if column in seen:
            raise DataError(
                f"{name} has two columns named {column!r}", hint=f"rename one of them in {name}, then try again"
            )
        seen.add(column)
    return TableStream(stream.layout, stream.names, _guarded(stream.batches, name, kind))


def _guarded(batches: Iterator[list[pa.Array]], name: str, kind: str) -> Iterator[list[pa.Array]]:
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    try:
        yield from batches
    except (pa.ArrowException, OSError, UnicodeError) as exc:
        raise DataError(
            f"cannot read {name} as {kind}: {_first_line(exc)}", hint=f"check that {name} is {kind}"
        ) from exc


def _parquet(file: Path) -> TableStream:
    import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

    reader = pq.ParquetFile(file)
    names = tuple(reader.schema_arrow.names)

    def batches() -> Iterator[list[pa.Array]]:
        with reader:
            for batch in reader.iter_batches(batch_size=_PARQUET_BATCH):
                yield list(batch.columns)

    return TableStream(Layout(format="parquet"), names, batches())


def _csv(file: Path, kind: str) -> TableStream:
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
    import pyarrow.csv as pacsv  # type: ignore[import-untyped,unused-ignore]

    with file.open("rb") as handle:
        sample = handle.read(_SAMPLE)
    layout, text = _sniff(sample, kind)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter or ",")
    header = next(rows, None)
    if header is None:
        return TableStream(layout, (), iter(()))
    repeated = _repeated(rows, len(header))
    cells, distinct = pa.binary(), pa.dictionary(pa.int32(), pa.binary())
    pool = _pool()
    reader = pacsv.open_csv(
        pa.OSFile(str(file), memory_pool=pool),
        memory_pool=pool,
        read_options=pacsv.ReadOptions(
            autogenerate_column_names=True,
            block_size=_BLOCK,
            encoding="utf8" if layout.encoding == "utf-8" else layout.encoding,
        ),
        parse_options=pacsv.ParseOptions(delimiter=layout.delimiter),
        convert_options=pacsv.ConvertOptions(
            column_types={f"f{index}": distinct if repeats else cells for index, repeats in enumerate(repeated)},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    first = [_as_text(column, index) for index, column in enumerate(reader.read_next_batch().columns)]
    names = tuple(str(column[0].as_py()) for column in first)
    names = (names[0].removeprefix("\ufeff"), *names[1:]) if names else names

    def batches() -> Iterator[list[pa.Array]]:
        if first and len(first[0]) > 1:
            yield [column.slice(1) for column in first]
        for batch in reader:
            yield [_as_text(column, index) for index, column in enumerate(batch.columns)]

    return TableStream(layout, names, batches())


def _repeated(rows: Iterator[list[str]], width: int) -> list[bool]:
    """Per column, whether its sampled cells are text (not all numbers) of which one in ``_REPEATS`` repeats.

    Such a column is worth reading dictionary-encoded: hashing a text cell costs several times what reading it
    into a dictionary does. A number is cheaper to type and hash than to look up, so number columns are not.
    """
    seen: list[set[str]] = [set() for _ in range(width)]
    count = 0
    with contextlib.suppress(csv.Error):  # the sample may end inside a quoted cell
        for row in rows:
            count += 1
            for values, cell in zip(seen, row, strict=False):
                values.add(cell)
    return [
        count > 0 and (count - len(values)) * _REPEATS >= count and not all(_NUMBER.match(cell) for cell in values)
        for values in seen
    ]


def _as_text(column: pa.Array, index: int) -> pa.Array:
    """Column ``index``, read as bytes (plain or dictionary-encoded), as the UTF-8 text it holds, without a copy.

    Raises:
        pyarrow.ArrowInvalid: A cell is not UTF-8.
    """
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    encoded = pa.types.is_dictionary(column.type)
    values = column.dictionary if encoded else column
    data = values.buffers()[2]
    if data is not None:
        words = np.frombuffer(data, dtype=np.uint64, count=data.size // 8)
        tail = np.frombuffer(data, dtype=np.uint8, offset=8 * len(words))
        if int(np.bitwise_or.reduce(words, initial=0)) & _ASCII or (tail >= 0x80).any():
            try:  # not all ASCII: Arrow checks each cell
                values.cast(pa.string())
            except pa.ArrowInvalid as exc:
                raise pa.ArrowInvalid(f"In CSV column #{index}: invalid UTF8 data") from exc
    return column.view(pa.dictionary(column.type.index_type, pa.string()) if encoded else pa.string())


def _pool() -> pa.MemoryPool:
    """The memory pool of a read: jemalloc when pyarrow has it, else pyarrow's default.

    jemalloc keeps a freed block's memory for the next block; the default (mimalloc) hands it back to the system
    soon after, so each 4 MiB block is paged in afresh (measured: about a third more CPU for a 115 MiB read).
    """
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        return pa.default_memory_pool()


def _sniff(sample: bytes, kind: str) -> tuple[Layout, str]:
    """The layout of a delimited file from its first bytes, and those bytes decoded."""
    boms = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
    encoding, bom = next(((name, True) for mark, name in boms if sample.startswith(mark)), (None, False))
    if encoding is None:
        try:
            sample.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError as exc:
            encoding = "utf-8" if exc.start >= len(sample) - 3 and len(sample) == _SAMPLE else "latin-1"
    text = sample.decode("utf-8-sig" if encoding == "utf-8" else encoding, errors="ignore")
    first_line = text.partition("\n")[0]
    default = "\t" if kind == "tsv" else ","
    counts = {mark: _outside_quotes(first_line).count(mark) for mark in _DELIMITERS}
    delimiter = max(_DELIMITERS, key=lambda mark: (counts[mark], mark == default))
    delimiter = delimiter if counts[delimiter] else default
    if "\n" in text:
        line_ending: str | None = "crlf" if first_line.endswith("\r") else "lf"
    else:
        line_ending = "cr" if "\r" in text else None
    if line_ending == "cr":
        first_line = text.partition("\r")[0]
    if '"' not in text:
        quoting = "none"
    else:
        fields = first_line.rstrip("\r").split(delimiter)
        quoting = "all" if all(field.startswith('"') and field.endswith('"') for field in fields) else "minimal"
    layout = Layout(
        format=kind, encoding=encoding, bom=bom, delimiter=delimiter, line_ending=line_ending, quoting=quoting
    )
    return layout, text


def _outside_quotes(line: str) -> str:
    """``line`` with every double-quoted part removed (a delimiter inside quotes is data)."""
    return "".join(part for index, part in enumerate(line.split('"')) if index % 2 == 0)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__
