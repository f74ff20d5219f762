"""Reading a search's data: one table file, its target column, and features typed the way they will be served.

Numbers and booleans become float64 and everything else text, so the model's signature has the column types
``reprise serve`` validates requests against (and integer columns, which cannot carry a missing value once served,
do not appear in it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reprise.errors import ConfigError, DataError

__all__ = ["file_sha256", "read_table", "split_target"]


def read_table(path: str | Path) -> Any:
    """Read a CSV or Parquet file into a DataFrame.

    Raises:
        DataError: The file is missing, of another kind, or unreadable.
    """
    import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information

    source = Path(path)
    if not source.is_file():
        raise DataError(f"no data file {source}", hint="pass a CSV or Parquet file: reprise automl run data.csv ...")
    reader = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}.get(source.suffix.lower())
    if reader is None:
        raise DataError(f"{source} is neither .csv nor .parquet", hint="convert it to CSV or Parquet")
    try:
        return reader(source)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {source}: {exc}", hint="is it a valid CSV / Parquet file?") from exc


def split_target(frame: Any, target: str | None, drop: tuple[str, ...] = ()) -> tuple[Any, Any | None]:
    """Split ``frame`` into typed features (without ``drop``) and the target's values (None without a target).

    Raises:
        ConfigError: ``target`` is not a column.
        DataError: The target has missing values.
    """
    import numpy as np

    if target is not None and target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:12]))
        raise ConfigError(f"no target column '{target}' in the data", hint=f"columns: {columns}")
    labels = None
    if target is not None:
        if frame[target].isna().any():
            raise DataError(f"target column '{target}' has missing values", hint="drop or label those rows first")
        labels = np.asarray(frame[target])
    features = frame.drop(columns=[c for c in (target, *drop) if c is not None])
    typed = {}
    for column in features.columns:
        values = features[column]
        if values.dtype.kind in "fiub":
            typed[str(column)] = values.astype("float64")
        else:
            typed[str(column)] = values.astype(object).fillna("missing").astype(str)
    import pandas as pd

    return pd.DataFrame(typed, index=features.index).reset_index(drop=True), labels


def file_sha256(path: str | Path) -> str:
    """The sha256 of a data file (recorded by a search, checked by a replay)."""
    from reprise.data.hashing import hash_file

    return hash_file(path, ("sha256",))["sha256"]
