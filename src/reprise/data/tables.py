"""Tables in and out as pandas DataFrames: CSV, TSV or Parquet by the file's suffix, written atomically.

The one reader for every part of Reprise that needs a whole table in memory (fitting and applying feature pipelines,
an AutoML search); :mod:`reprise.data.identity` streams tables instead, for digests over files of any size.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Final

from reprise.errors import DataError

__all__ = ["read_table", "write_table"]

_SUFFIXES: Final = (".csv", ".tsv", ".parquet", ".pq")
_HINT: Final = "give a .csv, .tsv or .parquet file"


def read_table(path: Path | str) -> Any:
    """Read a CSV, TSV or Parquet file into a pandas DataFrame.

    Args:
        path: The file.

    Returns:
        The DataFrame.

    Raises:
        DataError: The file is missing, of another kind, or does not parse.
    """
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise DataError(f"no table file {path}", hint=_HINT)
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read {path} as a table: {exc}", hint=f"check that {path} is valid {suffix[1:]}"
        ) from exc


def write_table(frame: Any, path: Path) -> None:
    """Write a DataFrame as CSV, TSV or Parquet (by the suffix) through a temporary file and a rename.

    Args:
        frame: The DataFrame.
        path: Where to write it.

    Raises:
        DataError: The suffix is not a table format, or the file cannot be written.
    """
    suffix = _suffix(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            if suffix in (".parquet", ".pq"):
                frame.to_parquet(tmp, index=False)
            else:
                frame.to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",")
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise DataError(
            f"cannot write {path}: {exc.strerror or exc}", hint=f"check that {path.parent} is writable"
        ) from exc


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(f"{path} is not a table file ({suffix or 'no suffix'})", hint=_HINT)
    return suffix
