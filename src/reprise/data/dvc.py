"""The DVC adapter: the only module in Reprise that imports ``dvc``.

DVC errors are wrapped into :class:`reprise.errors.DataError` here, at the boundary.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeVar

from reprise._offline import ensure_offline
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["init_dvc", "is_dvc_repo"]

_T = TypeVar("_T")


def is_dvc_repo(root: Path) -> bool:
    """Whether ``root`` already holds a DVC repository (a ``.dvc`` folder)."""
    return (root / ".dvc").is_dir()


def init_dvc(root: Path, *, subdir: bool) -> None:
    """Run ``dvc init`` in ``root`` with analytics and update checks turned off in the repo's config.

    Args:
        root: The folder to initialise.
        subdir: True when ``root`` is below the git top level (DVC's ``--subdir``).

    Raises:
        DataError: DVC refused to initialise.
    """
    ensure_offline()
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        repo = _quietly(lambda: Repo.init(str(root), subdir=subdir))
        try:
            with repo.config.edit() as conf:
                conf["core"]["analytics"] = False
                conf["core"]["check_update"] = False
            if repo.scm is not None and not subdir:
                repo.scm.add([str(root / ".dvc" / "config")])
        finally:
            repo.close()
    except DvcException as exc:
        raise DataError(f"dvc init failed in {root}: {exc}", hint=f"run `dvc init` in {root} to see why") from exc


def _quietly(call: Callable[[], _T]) -> _T:
    """Run a DVC call without its banner lines: Reprise reports what it did itself."""
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return call()
    finally:
        logger.setLevel(level)
