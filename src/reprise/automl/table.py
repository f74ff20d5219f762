"""Reading a search's data: one table file, its target column, and features typed the way they will be served.

Numbers and booleans become float64 and everything else text, so the model's signature has the column types
``reprise serve`` validates requests against (and integer columns, which cannot carry a missing value once served,
do not appear in it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reprise.errors import ConfigError, DataError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["file_sha256", "split_target"]


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
    import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information

    return pd.DataFrame(typed, index=features.index).reset_index(drop=True), labels


def file_sha256(path: str | Path) -> str:
    """The sha256 of a data file (recorded by a search, checked by a replay)."""
    from reprise.data.hashing import hash_file

    return hash_file(path, ("sha256",))["sha256"]
