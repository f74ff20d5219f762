"""From a result row to the values of a row dataclass, with every time made UTC-aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import RowMapping

__all__ = ["row_values"]


def row_values(found: RowMapping, fields: Iterable[str]) -> dict[str, Any]:
    """The ``fields`` of ``found``; a naive time is UTC (SQLite keeps no zone, and everything is written in UTC)."""
    values = {key: found[key] for key in fields}
    for key, value in values.items():
        if isinstance(value, datetime) and value.tzinfo is None:
            values[key] = value.replace(tzinfo=UTC)
    return values
