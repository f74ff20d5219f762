"""No phone-home: the environment variables that keep MLflow and DVC from calling out."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import MutableMapping

__all__ = ["OFFLINE_ENV", "ensure_offline"]

#: Set (unless the user set them) in Reprise's own process and in every child it starts.
OFFLINE_ENV: Final[dict[str, str]] = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
}


def ensure_offline(environ: MutableMapping[str, str] | None = None) -> None:
    """Turn off MLflow telemetry and DVC analytics in ``environ`` (default: this process)."""
    target = os.environ if environ is None else environ
    for name, value in OFFLINE_ENV.items():
        target.setdefault(name, value)
