"""Comparing the contents of two versions of an output file whose bytes differ: JSON, CSV, ``.npy`` and text.

Two outputs can differ in bytes and still say the same thing: a ``best_model_info.json`` that names the MLflow runs
of *this* execution differs from the original in those ids and nowhere else; a CSV of floats may differ in the last
digit. These readers tell apart "only run ids differ" (``equivalent``), "numbers within tolerance" and "different",
and say where. Text (a ``.txt``/``.log`` file, or a run's standard output) is compared line by line with its numbers
taken out and compared with the tolerance; clock times, dates and durations are not results and are left out. Any
other kind of file is compared by hash only.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ContentVerdict", "TextComparison", "compare_contents", "compare_text", "is_comparable"]

#: Files larger than this are compared by hash only.
MAX_BYTES: Final = 64 << 20
#: MLflow run ids (32 hex digits) and logged-model ids (``m-`` + 32 hex digits): new in every execution.
_MLFLOW_ID: Final = re.compile(r"(?<![0-9a-f])(?:m-)?[0-9a-f]{32}(?![0-9a-f])")
_SUFFIXES: Final = (".json", ".csv", ".tsv", ".npy", ".txt", ".log")
#: What changes from one execution to the next without being a result: clock times, dates, durations, speeds,
#: process ids, temporary paths. Masked out of text before its numbers are compared.
_INCIDENTAL: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"  # ISO date-times
    r"|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"  # dates, clock times
    r"|\b\d+(?:\.\d+)?\s*(?:ms|us|µs|ns|s|sec|secs|seconds?|min|minutes?|h|hours?|it/s|s/it)\b"  # durations, speeds
    r"|\bpid[ =:]*\d+|/tmp/\S*|(?<![0-9a-f])(?:m-)?[0-9a-f]{32}(?![0-9a-f])",  # process ids, temp paths, MLflow ids
    re.IGNORECASE,
)
_NUMBER: Final = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|\b(?:nan|inf)\b", re.IGNORECASE)

Status = Literal["equivalent", "within_tolerance", "different"]


@dataclass(frozen=True)
class ContentVerdict:
    """How two versions of one file compare beyond their bytes.

    Attributes:
        status: ``equivalent`` (only MLflow ids differ), ``within_tolerance`` or ``different``.
        detail: Where and how, in one line.
        max_abs_diff: The largest numeric difference seen (0.0 when none).
    """

    status: Status
    detail: str
    max_abs_diff: float = 0.0


@dataclass
class _Walk:
    close: Callable[[float, float], bool]
    ids: int = 0
    numbers: int = 0
    max_abs: float = 0.0
    first: list[str] = field(default_factory=list)

    def number(self, where: str, a: float, b: float) -> None:
        if a == b or (math.isnan(a) and math.isnan(b)):
            return
        delta = abs(a - b)
        self.max_abs = max(self.max_abs, delta if not math.isnan(delta) else math.inf)
        if self.close(a, b):
            self.numbers += 1
        else:
            self.differ(where, f"{a!r} vs {b!r}")

    def text(self, where: str, a: str, b: str) -> None:
        if a == b:
            return
        if _MLFLOW_ID.sub("<id>", a) == _MLFLOW_ID.sub("<id>", b):
            self.ids += 1
        else:
            self.differ(where, f"{_short(a)!r} vs {_short(b)!r}")

    def differ(self, where: str, what: str) -> None:
        if not self.first:
            self.first.append(f"{where or '(top)'}: {what}")

    def verdict(self) -> ContentVerdict:
        if self.first:
            return ContentVerdict("different", f"differs at {self.first[0]}", self.max_abs)
        if self.numbers:
            extra = f"; {self.ids} MLflow id(s) differ" if self.ids else ""
            detail = f"{self.numbers} number(s) within tolerance (max |Δ| {self.max_abs:.3g}){extra}"
            return ContentVerdict("within_tolerance", detail, self.max_abs)
        return ContentVerdict("equivalent", f"only MLflow run/model ids differ ({self.ids} value(s))")


def is_comparable(path: str, size: int) -> bool:
    """Whether :func:`compare_contents` can read a file of this name and size."""
    return path.lower().endswith(_SUFFIXES) and size <= MAX_BYTES


def compare_contents(path: str, original: bytes, reproduced: bytes, *, atol: float, rtol: float) -> ContentVerdict:
    """Compare two versions of ``path`` by meaning (the bytes are known to differ).

    Args:
        path: The file name; its suffix picks the reader.
        original: The original bytes.
        reproduced: The reproduced bytes.
        atol: Absolute tolerance on numbers.
        rtol: Relative tolerance on numbers (relative to the original value).

    Returns:
        The verdict; ``different`` with the reason when the file cannot be read as its suffix says.
    """
    suffix = path.lower().rsplit(".", 1)[-1]

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= atol + rtol * abs(a)

    try:
        if suffix == "json":
            walk = _Walk(close)
            _json(walk, "", json.loads(original), json.loads(reproduced))
            return walk.verdict()
        if suffix in ("csv", "tsv"):
            return _table(original, reproduced, "\t" if suffix == "tsv" else ",", close)
        if suffix == "npy":
            return _array(original, reproduced, atol, rtol)
        if suffix in ("txt", "log"):
            text = compare_text(original.decode("utf-8"), reproduced.decode("utf-8"), atol=atol, rtol=rtol)
            return ContentVerdict(text.status, text.detail, text.max_abs_diff)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        return ContentVerdict("different", f"cannot read as .{suffix}: {exc}")
    return ContentVerdict("different", "bytes differ")


@dataclass(frozen=True)
class TextComparison:
    """Two texts compared line by line, their numbers with the tolerance.

    Attributes:
        status: ``equivalent`` (same text once clock times and ids are left out), ``within_tolerance`` or
            ``different``.
        detail: Where and how, in one line.
        lines: Lines compared (those whose wording is on both sides).
        numbers: Numbers compared in those lines.
        max_abs_diff: The largest numeric difference seen.
        one_sided: Lines whose wording is on one side only (ignored when ``lenient``).
    """

    status: Status
    detail: str
    lines: int = 0
    numbers: int = 0
    max_abs_diff: float = 0.0
    one_sided: int = 0


def compare_text(original: str, reproduced: str, *, atol: float, rtol: float, lenient: bool = False) -> TextComparison:
    """Compare two texts by wording, and their numbers with the tolerance.

    Each line is split into its wording (the text with numbers masked) and its numbers. Lines are paired by wording,
    in order; paired lines compare their numbers with ``atol + rtol * |original|``. Clock times, dates, durations,
    temporary paths and MLflow ids are left out first: they change with every execution.

    Args:
        original: The original text.
        reproduced: The re-run's text.
        atol: Absolute tolerance on numbers.
        rtol: Relative tolerance on numbers.
        lenient: Lines whose wording is on one side only are not a difference (a run's standard output: the
            original may have captured less of it than the re-run, e.g. only inside ``start_run``).

    Returns:
        The comparison, with how many lines and numbers were compared.

    Example:
        >>> compare_text("accuracy 0.93 in 2.5s", "accuracy 0.93 in 3.1s", atol=0, rtol=0).status
        'equivalent'
    """
    walk = _Walk(lambda a, b: abs(a - b) <= atol + rtol * abs(a))
    pending: dict[str, list[tuple[int, list[float]]]] = {}
    for number, (wording, values) in enumerate(_text_lines(original), start=1):
        pending.setdefault(wording, []).append((number, values))
    lines = numbers = one_sided = 0
    for wording, values in _text_lines(reproduced):
        queue = pending.get(wording)
        if not queue:
            one_sided += 1
            continue
        number, expected = queue.pop(0)
        lines += 1
        for a, b in zip(expected, values, strict=True):
            numbers += 1
            walk.number(f"line {number}", a, b)
    one_sided += sum(len(queue) for queue in pending.values())
    if one_sided and not lenient:
        walk.differ("", f"{one_sided} line(s) on one side only")
    verdict = walk.verdict()
    status: Status = verdict.status
    detail = verdict.detail if status != "equivalent" else f"{lines} line(s), {numbers} number(s) identical"
    return TextComparison(status, detail, lines, numbers, walk.max_abs, one_sided)


def _text_lines(text: str) -> list[tuple[str, list[float]]]:
    found = []
    for raw in text.splitlines():
        line = _INCIDENTAL.sub("<>", raw).strip()
        if line:
            values = [float(match) for match in _NUMBER.findall(line)]
            found.append((_NUMBER.sub("#", line), values))
    return found


def _json(walk: _Walk, where: str, a: Any, b: Any) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            walk.differ(where, f"keys {sorted(a.keys() ^ b.keys())[:5]} on one side only")
            return
        for key in a:
            _json(walk, f"{where}.{key}" if where else str(key), a[key], b[key])
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            walk.differ(where, f"{len(a)} vs {len(b)} items")
            return
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            _json(walk, f"{where}[{index}]", x, y)
    elif _is_number(a) and _is_number(b):
        walk.number(where, float(a), float(b))
    elif isinstance(a, str) and isinstance(b, str):
        walk.text(where, a, b)
    elif a != b:
        walk.differ(where, f"{_short(repr(a))} vs {_short(repr(b))}")


def _table(original: bytes, reproduced: bytes, delimiter: str, close: Callable[[float, float], bool]) -> ContentVerdict:
    rows_a = list(csv.reader(io.StringIO(original.decode("utf-8")), delimiter=delimiter))
    rows_b = list(csv.reader(io.StringIO(reproduced.decode("utf-8")), delimiter=delimiter))
    walk = _Walk(close)
    if len(rows_a) != len(rows_b):
        return ContentVerdict("different", f"{len(rows_a)} vs {len(rows_b)} rows")
    for number, (row_a, row_b) in enumerate(zip(rows_a, rows_b, strict=True), start=1):
        if len(row_a) != len(row_b):
            return ContentVerdict("different", f"row {number}: {len(row_a)} vs {len(row_b)} columns")
        for column, (x, y) in enumerate(zip(row_a, row_b, strict=True), start=1):
            where = f"row {number}, column {column}"
            fx, fy = _float(x), _float(y)
            if fx is not None and fy is not None:
                walk.number(where, fx, fy)
            else:
                walk.text(where, x, y)
            if walk.first:
                return walk.verdict()
    return walk.verdict()


def _array(original: bytes, reproduced: bytes, atol: float, rtol: float) -> ContentVerdict:
    import numpy as np

    a = np.load(io.BytesIO(original), allow_pickle=False)
    b = np.load(io.BytesIO(reproduced), allow_pickle=False)
    if a.shape != b.shape or a.dtype != b.dtype:
        return ContentVerdict("different", f"array {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}")
    if a.dtype.kind not in "biuf":
        unequal = int(np.count_nonzero(a != b))
        return ContentVerdict("different", f"{unequal} of {a.size} values differ")
    x, y = a.astype(np.float64), b.astype(np.float64)
    both_nan = np.isnan(x) & np.isnan(y)
    delta = np.where(both_nan, 0.0, np.abs(x - y))
    delta = np.where(np.isnan(delta), np.inf, delta)
    worst = float(delta.max()) if delta.size else 0.0
    changed = int(np.count_nonzero(delta))
    if not bool(np.all(delta <= atol + rtol * np.abs(x))):
        return ContentVerdict("different", f"{changed} of {a.size} values differ, max |Δ| {worst:.3g}", worst)
    return ContentVerdict(
        "within_tolerance", f"{changed} of {a.size} values within tolerance (max |Δ| {worst:.3g})", worst
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
