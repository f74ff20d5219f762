"""Tabular data: schemas (row and column counts, column types) and per-column drift between two tables.

CSV, TSV and Parquet files are read with pyarrow (imported here, lazily). Drift per column:

* numeric: PSI over ten quantile bins of the first table (open-ended at both ends) and the two-sample
  Kolmogorov-Smirnov statistic (the largest gap between the two empirical CDFs);
* categorical: PSI over the category frequencies (the 50 most frequent categories, the rest pooled as
  ``(other)``), and the categories that appeared or vanished.

A column is flagged as drifted when its PSI exceeds ``psi`` or, for numeric columns, its KS statistic exceeds ``ks``
(:class:`DriftThresholds`; defaults 0.2 and 0.1, the usual "significant shift" levels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from reprise.data._tablefile import table_format
from reprise.data.identity import TableIdentity
from reprise.errors import DataError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "ColumnChange",
    "ColumnDrift",
    "ColumnSpec",
    "Distribution",
    "DriftThresholds",
    "TableDiff",
    "TableSchema",
    "compare_tables",
    "is_tabular",
    "population_stability_index",
    "read_schema",
]

_EPSILON: Final = 1e-4
_TOP_CATEGORIES: Final = 50
_LISTED: Final = 20
_BINS: Final = 10


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ColumnSpec(_Frozen):
    """A column's name and its (pyarrow) type, e.g. ``int64``, ``double``, ``string``."""

    name: str
    dtype: str


class TableSchema(_Frozen):
    """The shape of one tabular file.

    Attributes:
        path: The file, relative to the version's base.
        format: ``csv``, ``tsv`` or ``parquet``.
        rows: Number of rows (None when the file could not be parsed).
        columns: Columns in file order.
        error: Why the file could not be parsed, if it could not.
        identity: Its content identity (:mod:`reprise.data.identity`), when it was computed.
        same_content_as: Data versions that already held this table (same content digest) when it was versioned.
    """

    path: str
    format: str
    rows: int | None
    columns: tuple[ColumnSpec, ...] = ()
    error: str | None = None
    identity: TableIdentity | None = None
    same_content_as: tuple[str, ...] = ()


class DriftThresholds(_Frozen):
    """When a column counts as drifted: PSI above ``psi`` or (numeric) KS statistic above ``ks``."""

    psi: float = Field(default=0.2, ge=0)
    ks: float = Field(default=0.1, ge=0, le=1)


class Distribution(_Frozen):
    """The binned distributions PSI was computed on, as proportions (what the HTML report plots).

    Attributes:
        labels: Bin or category labels.
        a: Proportions in the first table.
        b: Proportions in the second table.
        edges: Bin edges for numeric columns (ends clipped to the observed range), None for categorical ones.
    """

    labels: tuple[str, ...]
    a: tuple[float, ...]
    b: tuple[float, ...]
    edges: tuple[float, ...] | None = None


class ColumnDrift(_Frozen):
    """How one column's distribution moved between two tables."""

    column: str
    kind: Literal["numeric", "categorical"]
    psi: float
    ks: float | None = None
    new_categories: tuple[str, ...] = ()
    vanished_categories: tuple[str, ...] = ()
    null_fraction_a: float = 0.0
    null_fraction_b: float = 0.0
    drifted: bool = False
    distribution: Distribution


class ColumnChange(_Frozen):
    """A column whose type changed."""

    column: str
    a: str
    b: str


class TableDiff(_Frozen):
    """What changed in one tabular file: shape, columns and per-column drift."""

    path: str
    rows_a: int
    rows_b: int
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    columns_retyped: tuple[ColumnChange, ...] = ()
    drift: tuple[ColumnDrift, ...] = ()

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns flagged as drifted."""
        return [item.column for item in self.drift if item.drifted]


def is_tabular(path: str) -> bool:
    """Whether ``path`` names a CSV, TSV or Parquet file (by its suffix).

    Args:
        path: A file name or path.

    Returns:
        True for ``.csv``, ``.tsv``, ``.parquet`` and ``.pq``.
    """
    return _format(path) is not None


def read_schema(file: Path, rel: str) -> TableSchema:
    """Row count and column types of a tabular file (Parquet from its footer, CSV by parsing it).

    Args:
        file: The file to read.
        rel: Its name in the version (stored as ``path``).

    Returns:
        The schema; a file that does not parse gets ``rows=None`` and the parser's message in ``error``.
    """
    kind = _format(rel) or "csv"
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    try:
        if kind == "parquet":
            import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

            parquet = pq.ParquetFile(file)
            rows, schema = parquet.metadata.num_rows, parquet.schema_arrow
        else:
            table = _read(file, kind)
            rows, schema = table.num_rows, table.schema
    except (pa.ArrowException, OSError) as exc:
        return TableSchema(path=rel, format=kind, rows=None, error=str(exc).splitlines()[0][:300])
    columns = tuple(ColumnSpec(name=field.name, dtype=str(field.type)) for field in schema)
    return TableSchema(path=rel, format=kind, rows=int(rows), columns=columns)


def compare_tables(rel: str, file_a: Path, file_b: Path, thresholds: DriftThresholds | None = None) -> TableDiff:
    """Compare two versions of a tabular file: row counts, columns added/removed/retyped and per-column drift.

    Args:
        rel: The file's name (reported as ``path``).
        file_a: The first (older) version.
        file_b: The second (newer) version.
        thresholds: When a column counts as drifted (default :class:`DriftThresholds`).

    Returns:
        The differences.

    Raises:
        DataError: Either file does not parse.
    """
    limits = thresholds or DriftThresholds()
    kind = _format(rel) or "csv"
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    try:
        table_a, table_b = _read(file_a, kind), _read(file_b, kind)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot parse {rel} as {kind}: {exc}", hint=f"check that {rel} is valid {kind}") from exc
    types_a = {field.name: field.type for field in table_a.schema}
    types_b = {field.name: field.type for field in table_b.schema}
    common = [name for name in types_a if name in types_b]
    drift = []
    for name in common:
        numeric_a, numeric_b = _is_numeric(types_a[name]), _is_numeric(types_b[name])
        if numeric_a and numeric_b:
            drift.append(_numeric_drift(name, table_a.column(name), table_b.column(name), limits))
        else:
            drift.append(_categorical_drift(name, table_a.column(name), table_b.column(name), limits))
    return TableDiff(
        path=rel,
        rows_a=table_a.num_rows,
        rows_b=table_b.num_rows,
        columns_added=tuple(name for name in types_b if name not in types_a),
        columns_removed=tuple(name for name in types_a if name not in types_b),
        columns_retyped=tuple(
            ColumnChange(column=name, a=str(types_a[name]), b=str(types_b[name]))
            for name in common
            if str(types_a[name]) != str(types_b[name])
        ),
        drift=tuple(drift),
    )


def population_stability_index(a: Any, b: Any) -> float:
    """PSI between two binned distributions: sum over bins of (b - a) * ln(b / a), empty bins floored at 1e-4.

    Args:
        a: Proportions (or counts) per bin of the reference.
        b: Proportions (or counts) per bin of the comparison, same bins.

    Returns:
        The index (0 for identical distributions; above 0.2 is usually read as a significant shift).
    """
    import numpy as np

    pa_ = np.asarray(a, dtype=float)
    pb_ = np.asarray(b, dtype=float)
    pa_ = np.maximum(pa_ / max(pa_.sum(), 1e-12), _EPSILON)
    pb_ = np.maximum(pb_ / max(pb_.sum(), 1e-12), _EPSILON)
    return float(np.sum((pb_ - pa_) * np.log(pb_ / pa_)))


def _format(path: str) -> str | None:
    return table_format(path)


def _read(file: Path, kind: str) -> Any:
    if kind == "parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

        return pq.read_table(file)
    import pyarrow.csv as pacsv  # type: ignore[import-untyped,unused-ignore]

    options = pacsv.ParseOptions(delimiter="\t" if kind == "tsv" else ",")
    return pacsv.read_csv(file, parse_options=options)


def _is_numeric(dtype: Any) -> bool:
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype))


def _numeric_drift(name: str, column_a: Any, column_b: Any, limits: DriftThresholds) -> ColumnDrift:
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    raw_a = column_a.cast(pa.float64()).to_numpy(zero_copy_only=False)
    raw_b = column_b.cast(pa.float64()).to_numpy(zero_copy_only=False)
    a, b = raw_a[~np.isnan(raw_a)], raw_b[~np.isnan(raw_b)]
    nulls = (_fraction(len(raw_a) - len(a), len(raw_a)), _fraction(len(raw_b) - len(b), len(raw_b)))
    if len(a) == 0 or len(b) == 0:
        empty = Distribution(labels=(), a=(), b=())
        return ColumnDrift(
            column=name, kind="numeric", psi=0.0, null_fraction_a=nulls[0], null_fraction_b=nulls[1], distribution=empty
        )
    inner = np.unique(np.quantile(a, np.linspace(0, 1, _BINS + 1)[1:-1]))
    count_a = np.bincount(np.searchsorted(inner, a, side="right"), minlength=len(inner) + 1)
    count_b = np.bincount(np.searchsorted(inner, b, side="right"), minlength=len(inner) + 1)
    share_a, share_b = count_a / len(a), count_b / len(b)
    low, high = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    edges = (low, *(float(edge) for edge in inner), high)
    psi = population_stability_index(share_a, share_b)
    ks = _ks_statistic(a, b)
    return ColumnDrift(
        column=name,
        kind="numeric",
        psi=round(psi, 6),
        ks=round(ks, 6),
        null_fraction_a=nulls[0],
        null_fraction_b=nulls[1],
        drifted=psi > limits.psi or ks > limits.ks,
        distribution=Distribution(
            labels=tuple(f"[{edges[i]:.4g}, {edges[i + 1]:.4g})" for i in range(len(edges) - 1)),
            a=tuple(float(x) for x in share_a),
            b=tuple(float(x) for x in share_b),
            edges=edges,
        ),
    )


def _ks_statistic(a: Any, b: Any) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    import numpy as np

    sorted_a, sorted_b = np.sort(a), np.sort(b)
    points = np.concatenate([sorted_a, sorted_b])
    cdf_a = np.searchsorted(sorted_a, points, side="right") / len(sorted_a)
    cdf_b = np.searchsorted(sorted_b, points, side="right") / len(sorted_b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _categorical_drift(name: str, column_a: Any, column_b: Any, limits: DriftThresholds) -> ColumnDrift:
    counts_a, nulls_a = _category_counts(column_a)
    counts_b, nulls_b = _category_counts(column_b)
    total_a, total_b = sum(counts_a.values()), sum(counts_b.values())
    combined = {
        key: counts_a.get(key, 0) / max(total_a, 1) + counts_b.get(key, 0) / max(total_b, 1)
        for key in {
            *counts_a,
            *counts_b,
        }
    }
    top = sorted(combined, key=lambda key: (-combined[key], key))[:_TOP_CATEGORIES]
    labels = list(top)
    share_a = [counts_a.get(key, 0) / max(total_a, 1) for key in top]
    share_b = [counts_b.get(key, 0) / max(total_b, 1) for key in top]
    if len(combined) > len(top):
        labels.append("(other)")
        share_a.append(max(0.0, 1.0 - sum(share_a)) if total_a else 0.0)
        share_b.append(max(0.0, 1.0 - sum(share_b)) if total_b else 0.0)
    psi = population_stability_index(share_a, share_b) if total_a and total_b else 0.0
    new = sorted(set(counts_b) - set(counts_a))
    vanished = sorted(set(counts_a) - set(counts_b))
    return ColumnDrift(
        column=name,
        kind="categorical",
        psi=round(psi, 6),
        new_categories=tuple(new[:_LISTED]),
        vanished_categories=tuple(vanished[:_LISTED]),
        null_fraction_a=_fraction(nulls_a, total_a + nulls_a),
        null_fraction_b=_fraction(nulls_b, total_b + nulls_b),
        drifted=psi > limits.psi,
        distribution=Distribution(labels=tuple(labels), a=tuple(share_a), b=tuple(share_b)),
    )


def _category_counts(column: Any) -> tuple[dict[str, int], int]:
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]

    values = column.cast(pa.string()) if not pa.types.is_string(column.type) else column
    counts: dict[str, int] = {}
    for item in pc.value_counts(values).to_pylist():
        if item["values"] is not None:
            counts[str(item["values"])] = int(item["counts"])
    return counts, int(column.null_count)


def _fraction(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0
