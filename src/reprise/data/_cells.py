"""Typing and hashing the cells of one column batch, vectorised (numpy over Arrow buffers; no Python loop per cell).

A batch column is typed as ``null``, ``bool``, ``int``, ``float`` or ``string`` by the rules of
:mod:`reprise.data.identity`, then each cell gets two 64-bit lanes: ``fmix64(value ^ key)`` for numbers and booleans
(a bijection, so two different values of one column never share a lane), a sum of position-keyed 8-byte words for
strings, and one constant per column for null. Keys come from sha256 of (scheme, column name, type, lane), so the
same value in another column, or under another type, hashes differently. ``fmix64`` is MurmurHash3's finaliser;
numpy's uint64 arithmetic wraps modulo 2**64, which is what the scheme specifies.

A dictionary-encoded column (a low-cardinality CSV column, a Parquet category) is typed and hashed over the distinct
values its cells use, then each cell takes its value's lanes: every rule looks at the set of values only, so the
verdict and the lanes are those of typing and hashing each cell, at the cost of the distinct values.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Literal

from reprise.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

__all__ = ["CellType", "Typed", "cell_lanes", "join_types", "key", "mix", "pinned", "typed"]

CellType = Literal["null", "bool", "int", "float", "string"]

SCHEME: Final = "reprise-table-v1"
_M1: Final = 0xFF51AFD7ED558CCD
_M2: Final = 0xC4CEB9FE1A85EC53
_NULL_TOKENS: Final = (b"NaN", b"nan", b"NAN")
#: First bytes a number may start with (strict forms, plus inf/Infinity).
_NUMERIC_FIRST: Final = b"0123456789-iI"
#: Bytes that only a float (never an int) holds.
_FLOAT_ONLY: Final = b".eEiInN"
_DIGITS: Final = b"0123456789"


class _ByteSets(dict[bytes, "np.ndarray"]):
    """``_ANY_OF[b"abc"]``: a 256-entry boolean table, True at those byte values (built once per set)."""

    def __missing__(self, members: bytes) -> np.ndarray:
        import numpy as np

        table = np.zeros(256, dtype=bool)
        table[np.frombuffer(members, np.uint8)] = True
        self[members] = table
        return table


_ANY_OF: Final = _ByteSets()


def mix(x: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """MurmurHash3's fmix64 over a uint64 array (in place; returns it), with ``scratch`` (shaped as ``x``) if given."""
    import numpy as np

    m1, m2, s = np.uint64(_M1), np.uint64(_M2), np.uint64(33)
    shifted = np.right_shift(x, s, out=scratch)
    x ^= shifted
    x *= m1
    x ^= np.right_shift(x, s, out=shifted)
    x *= m2
    x ^= np.right_shift(x, s, out=shifted)
    return x


@functools.cache
def key(*parts: str) -> int:
    """A 64-bit key: the first 8 bytes (little-endian) of sha256 over the scheme and ``parts``, NUL-separated."""
    raw = "\x00".join((SCHEME, *parts)).encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "little")


def join_types(a: CellType, b: CellType) -> CellType:
    """The type a column has when one batch reads as ``a`` and another as ``b``: int and float make float."""
    if b in (a, "null"):
        return a
    if a == "null":
        return b
    return "float" if {a, b} == {"int", "float"} else "string"


@dataclass(frozen=True)
class Typed:
    """One batch column, typed: the type, which cells are null, and the values to hash (numpy for numbers).

    With ``indices``, ``valid`` and ``values`` are over the column's distinct values and cell ``i`` holds value
    ``indices[i]`` (a dictionary-encoded column).
    """

    type: CellType
    valid: np.ndarray
    values: Any
    indices: np.ndarray | None = None


def typed(column: pa.Array) -> Typed:
    """Type one batch column by its own values (the narrowest of the scheme's types that holds every cell)."""
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    values, indices = _distinct(column)
    if indices is not None:
        return replace(_text_typed(values), indices=indices)
    kind = column.type
    if pa.types.is_boolean(kind):
        return _bool_values(column)
    if pa.types.is_integer(kind):
        try:
            return _numbers(column.cast(pa.int64()), "int")
        except pa.ArrowInvalid:  # a uint64 beyond int64: kept exactly, as its decimal text
            return _text_typed(column.cast(pa.string()))
    if pa.types.is_floating(kind):
        return _numbers(column.cast(pa.float64()), "float")
    return _text_typed(_as_text(column))


def pinned(column: pa.Array, kind: CellType) -> Typed:
    """Convert one batch column to ``kind``, the type the whole column was found to have (a join of batch types)."""
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    values, indices = _distinct(column)
    if kind == "string" and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        # Text kept as text: whatever its cells would type as, only which of them are null matters.
        text = _text_parts(values)
        return Typed("string", _text_valid(values, text)[0], values, indices)
    found = typed(column)
    if found.type in (kind, "null"):
        return found
    if kind == "float" and found.type == "int":
        return Typed("float", found.valid, found.values.astype("float64"), found.indices)
    return Typed("string", found.valid, _as_text(values), indices)


def cell_lanes(name: str, cells: Typed, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """The two uint64 lanes of every cell of column ``name`` (null cells: the column's null pair), into ``out``.

    ``out`` and ``scratch`` are ``(n, 2)`` uint64 arrays (``scratch`` is overwritten): both lanes of a cell sit side
    by side, so every step runs once over the two of them, and a batch's columns reuse the same memory.
    """
    import numpy as np

    if cells.indices is not None:  # the distinct values' lanes, then each cell's
        size = (len(cells.valid), 2)
        lanes = cell_lanes(name, replace(cells, indices=None), np.empty(size, np.uint64), np.empty(size, np.uint64))
        return np.take(lanes, cells.indices, axis=0, out=out)
    if cells.type == "string":
        _string_lanes(_text_parts(cells.values), out, scratch)
    elif cells.type == "float":
        np.add(cells.values, 0.0, out=out[:, 0].view(np.float64))  # + 0.0 turns -0.0 into 0.0
        out[:, 1] = out[:, 0]
    elif cells.type != "null":
        out[:, 0] = out[:, 1] = cells.values.view(np.uint64)
    if cells.type != "null":
        for lane in (0, 1):  # one strided pass per lane: numpy broadcasting a pair of keys would loop per row
            out[:, lane] ^= np.uint64(key(name, cells.type, str(lane)))
        mix(out, scratch)
    if cells.type == "null" or not cells.valid.all():
        nulls = ~cells.valid
        for lane in (0, 1):
            np.copyto(out[:, lane], np.uint64(_null(name, lane)), where=nulls)
    return out


@functools.cache
def _null(name: str, lane: int) -> int:
    import numpy as np

    return int(mix(np.array([key(name, "null", str(lane))], dtype=np.uint64))[0])


def _distinct(column: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """For a dictionary column, its distinct values as text and each cell's index among them; else the column.

    Dictionary entries no cell uses are dropped (a Parquet category absent from the batch, the CSV header): the
    values typed are exactly those of the cells. A column with null indices is decoded, as is any other column.
    """
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    if not pa.types.is_dictionary(column.type) or column.indices.null_count:
        return column, None
    indices = _numpy(column.indices).astype(np.intp, copy=False)
    values = column.dictionary
    used = np.bincount(indices, minlength=len(values))
    if not used.all():
        kept = np.flatnonzero(used)
        renumbered = np.zeros(len(values), dtype=np.intp)
        renumbered[kept] = np.arange(len(kept))
        indices = renumbered[indices]
        values = values.take(_arrow(kept))
    return _as_text(values), indices


def _as_text(column: pa.Array) -> pa.Array:
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(
            f"a column of type {column.type} has no text form the table identity can read",
            hint="flatten nested columns (lists, structs, maps) into plain ones before versioning the table",
        ) from exc


@dataclass(frozen=True)
class _Text:
    """A string column's bytes: offsets (rebased to 0), the data bytes, and each cell's length."""

    offsets: np.ndarray
    data: np.ndarray
    lengths: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        return self.offsets[:-1]

    @property
    def ends(self) -> np.ndarray:
        return self.offsets[1:]

    def at(self, positions: np.ndarray) -> np.ndarray:
        """The bytes at ``positions``, each clipped into the data (callers mask the cells where that matters)."""
        import numpy as np

        return np.take(self.data, positions, mode="clip")


def _text_parts(column: pa.Array) -> _Text:
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    width = np.int64 if pa.types.is_large_string(column.type) else np.int32
    buffers = column.buffers()
    offsets = np.frombuffer(buffers[1], dtype=width, count=len(column) + 1, offset=column.offset * width().itemsize)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    if offsets[0]:
        offsets = offsets - offsets[0]
    return _Text(offsets, data, np.diff(offsets))


def _text_valid(column: pa.Array, text: _Text) -> tuple[np.ndarray, np.ndarray]:
    """Which cells hold a value (not empty, not ``NaN``/``nan``/``NAN``, not null), and every cell's first byte."""
    import numpy as np

    valid = text.lengths > 0
    if column.null_count:
        valid &= _valid(column)
    if not len(text.data):
        return valid, np.zeros(len(valid), np.uint8)
    first = text.at(text.starts)
    three = np.flatnonzero((text.lengths == 3) & _ANY_OF[b"Nn"][first])
    three = three[valid[three]]  # the valid cells of three bytes starting N or n: NaN, nan or NAN are null
    if len(three):
        starts = text.offsets[three]
        code = text.data[starts].astype(np.uint32) << 16 | text.data[starts + 1].astype(np.uint32) << 8
        code |= text.data[starts + 2]
        tokens = [int.from_bytes(token, "big") for token in _NULL_TOKENS]
        valid[three[np.isin(code, tokens)]] = False
    return valid, first


def _text_typed(column: pa.Array) -> Typed:
    """Type a text column: empty and NaN cells are null; then int, float, bool or string, strictly."""
    text = _text_parts(column)
    valid, first = _text_valid(column, text)
    if not valid.any():
        return Typed("null", valid, None)
    nulls = None if valid.all() else ~valid
    if _every(_ANY_OF[_NUMERIC_FIRST][first], nulls):
        found = _text_number(column, text, valid, first, nulls)
        if found is not None:
            return found
    elif _every(_ANY_OF[b"tTfF"][first], nulls):
        found = _text_bool(column, valid)
        if found is not None:
            return found
    return Typed("string", valid, column)


def _every(holds: np.ndarray, nulls: np.ndarray | None) -> bool:
    """Whether ``holds`` is true at every valid cell (``nulls``: the null ones, None when there is none)."""
    return bool(holds.all() if nulls is None else (holds | nulls).all())


def _text_number(
    column: pa.Array, text: _Text, valid: np.ndarray, first: np.ndarray, nulls: np.ndarray | None
) -> Typed | None:
    """Int when every valid cell is a strict integer that fits int64; else float when every one is a strict float."""
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    masked = column if nulls is None and not column.null_count else _with_validity(column, valid)
    body = _Body(text, first, nulls)
    if not _float_bytes(column, text, valid):
        try:
            ints = masked.cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None  # integers beyond int64 stay exact, as text
        if body.strict_ints():
            return Typed("int", valid, _filled(ints, 0))
        # Not canonical (007, -0): a float if each is a strict float (-0), else the text stays a string.
    try:
        floats = masked.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not body.strict_floats():
        return None
    return Typed("float", valid, _filled(floats, 0.0))


def _filled(values: pa.Array, fill: float) -> np.ndarray:
    """A numeric Arrow array as numpy, nulls as ``fill`` (without a copy when there is no null)."""
    import numpy as np

    found = _numpy(values)
    return np.where(_valid(values), found, found.dtype.type(fill)) if values.null_count else found


def _float_bytes(column: pa.Array, text: _Text, valid: np.ndarray) -> bool:
    """Whether a valid cell holds a byte only floats hold (``.eEiInN``; null ``NaN`` cells do not count)."""
    raw = text.data.tobytes()
    found = any(byte in raw for byte in _FLOAT_ONLY)  # memchr per byte value: far cheaper than a pass in numpy
    if found and not valid.all():
        kept = _text_parts(column.filter(_arrow(valid))).data.tobytes()
        found = any(byte in kept for byte in _FLOAT_ONLY)
    return found


class _Body:
    """Where each cell's digits start (past a ``-``), for the strict-format checks over the valid cells."""

    def __init__(self, text: _Text, first: np.ndarray, nulls: np.ndarray | None) -> None:
        import numpy as np

        self.text, self.nulls = text, nulls
        negative = first == ord("-")
        self.signed = bool(negative.any() if nulls is None else (negative & ~nulls).any())
        self.start = text.starts + negative if self.signed else text.starts
        self.negative = negative
        self.first = text.at(self.start) if self.signed else first
        # A lone "-": no digits at all (empty cells are null, so only a sign can leave nothing).
        self.lone = self.signed and not _every(np.asarray(self.start < text.ends), nulls)

    def strict_ints(self) -> bool:
        """Whether each valid cell is in canonical decimal form: no leading zero, no ``-0`` (Arrow refuses ``+``)."""
        if self.lone:
            return False
        more = self.start + 1 < self.text.ends
        loose = (self.first == ord("0")) & ((more | self.negative) if self.signed else more)
        return _every(~loose, self.nulls)

    def strict_floats(self) -> bool:
        """Whether no valid cell is written loosely: a leading ``+``/``.``/zero before a digit, or a trailing ``.``."""
        if self.lone:
            return False
        text, first = self.text, self.first
        loose = (first == ord(".")) | (first == ord("+")) | (text.at(text.ends - 1) == ord("."))
        loose |= (first == ord("0")) & (self.start + 1 < text.ends) & _ANY_OF[_DIGITS][text.at(self.start + 1)]
        return _every(~loose, self.nulls)


def _text_bool(column: pa.Array, valid: np.ndarray) -> Typed | None:
    import numpy as np
    import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]

    lower = _text_parts(pc.utf8_lower(_with_validity(column, valid)))
    truth, falsity = _equals(lower, b"true") & valid, _equals(lower, b"false") & valid
    if not (truth | falsity)[valid].all():
        return None
    return Typed("bool", valid, truth.astype(np.uint64))


def _equals(text: _Text, token: bytes) -> np.ndarray:
    """Which cells are exactly ``token`` (in numpy: an Arrow comparison with a Python string imports pandas)."""
    import numpy as np

    found = np.zeros(len(text.lengths), dtype=bool)
    cells = np.flatnonzero(text.lengths == len(token))
    for position, byte in enumerate(token):
        cells = cells[text.data[text.starts[cells] + position] == byte]
    found[cells] = True
    return found


def _bool_values(column: pa.Array) -> Typed:
    import numpy as np

    valid = _valid(column)
    if not valid.any():
        return Typed("null", valid, None)
    return Typed("bool", valid, (_numpy(column) & valid).astype(np.uint64))


def _numbers(column: pa.Array, kind: CellType) -> Typed:
    import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]

    valid = _valid(column)
    if kind == "float":
        valid &= ~_numpy(pc.is_nan(column))  # a null cell's bit is undefined, and the cell already not valid
    if not valid.any():
        return Typed("null", valid, None)
    return Typed(kind, valid, _filled(column, 0.0 if kind == "float" else 0))


def _numpy(values: pa.Array) -> np.ndarray:
    """An Arrow array of numbers or booleans as numpy, read from its buffers (numbers without a copy).

    A null cell's value is whatever its slot holds: callers mask it. pyarrow's own conversion (and ``fill_null``)
    imports pandas the first time: a fifth of a second in a fresh process.
    """
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    kind = values.type
    if pa.types.is_boolean(kind):
        return _bits(values.buffers()[1], values.offset, len(values))
    code = "f" if pa.types.is_floating(kind) else "u" if pa.types.is_unsigned_integer(kind) else "i"
    dtype = np.dtype(f"{code}{kind.bit_width // 8}")
    return np.frombuffer(values.buffers()[1], dtype=dtype, count=len(values), offset=values.offset * dtype.itemsize)


def _arrow(values: np.ndarray) -> pa.Array:
    """A numpy array of int64 or booleans as Arrow, from its buffer (``pa.array`` also imports pandas)."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    if values.dtype == bool:
        bits = pa.py_buffer(np.packbits(values, bitorder="little"))
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, bits])
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values.astype(np.int64, copy=False))])


def _valid(column: pa.Array) -> np.ndarray:
    """Which cells of ``column`` are not null (a writable boolean array)."""
    import numpy as np

    if not column.null_count:
        return np.ones(len(column), dtype=bool)
    return _bits(column.buffers()[0], column.offset, len(column))


def _bits(buffer: pa.Buffer, offset: int, count: int) -> np.ndarray:
    """``count`` bits of an Arrow bitmap from bit ``offset``, as booleans."""
    import numpy as np

    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), count=offset + count, bitorder="little")
    return bits[offset:].view(bool)


def _with_validity(column: pa.Array, valid: np.ndarray) -> pa.Array:
    """``column`` with exactly the ``valid`` cells non-null (a new validity bitmap over the same buffers)."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    bits = np.packbits(np.concatenate([np.zeros(column.offset, bool), valid]), bitorder="little")
    buffers = [pa.py_buffer(bits.tobytes()), *column.buffers()[1:]]
    return pa.Array.from_buffers(column.type, len(column), buffers, offset=column.offset)


def _string_lanes(text: _Text, out: np.ndarray, scratch: np.ndarray) -> None:
    """Per cell, two lanes over its bytes, 8 at a time, folded with its length, into ``out`` (``(n, 2)``).

    Word ``k`` of a cell is its bytes ``8k .. 8k+7`` as a little-endian uint64 (bytes past the end zeroed); lane 0
    sums ``fmix64(word + key_k)`` over the cell's words (at least one: an empty cell has word 0 = 0), lane 1 the same
    terms rotated left by 31 bits. Words are read straight out of the data buffer through an unaligned strided view,
    so the cost is per word, not per byte.
    """
    import numpy as np

    padded = np.zeros(len(text.data) + 8, dtype=np.uint8)
    padded[: len(text.data)] = text.data
    words = np.ndarray(shape=(len(text.data) + 1,), dtype="<u8", buffer=padded, strides=(1,))
    masks = np.array([(1 << (8 * width)) - 1 for width in range(9)], dtype=np.uint64)
    starts, lengths = text.offsets[:-1], text.lengths
    # Word 0 of every cell (an empty cell's is 0: its length tells it apart); later words only where cells reach.
    term = mix((words[starts] & masks[np.minimum(lengths, 8)]) + np.uint64(key("word", "0")), scratch[:, 0])
    _rotated(term, out)
    cells = np.flatnonzero(lengths > 8)
    word = 1
    while len(cells):
        left = np.minimum(lengths[cells] - 8 * word, 8)
        term = mix((words[starts[cells] + 8 * word] & masks[left]) + np.uint64(key("word", str(word))))
        for lane, terms in enumerate(_rotated(term, np.empty((len(term), 2), np.uint64)).T):
            column = out[:, lane]  # lane by lane: numpy gathers whole rows slowly
            column[cells] += terms
        word += 1
        cells = cells[lengths[cells] > 8 * word]
    folded = np.multiply(lengths, np.uint64(_M1), out=scratch[:, 0], dtype=np.uint64, casting="unsafe")
    out[:, 0] ^= folded
    out[:, 1] ^= folded
    mix(out, scratch)


def _rotated(terms: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Into ``out`` (``(n, 2)``): each term, and the term rotated left by 31 bits."""
    import numpy as np

    out[:, 0] = terms
    np.left_shift(terms, np.uint64(31), out=out[:, 1])
    out[:, 1] |= terms >> np.uint64(33)
    return out
