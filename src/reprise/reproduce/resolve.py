"""From what the user typed to what reproduction needs: the run, its RunRecord and its uncommitted patch.

A target is a run id (32 hex digits) or a ``runs:/<run id>[/path]`` URI. A run with no record of its own (a
candidate run nested in a captured stage, made with a plain ``mlflow.start_run(nested=True)``) is reproduced through
its nearest captured ancestor: the ancestor is re-run, and the verdict rests on the nested run's own metrics and
predictions (:class:`Focus`). The patch is checked against the digest in the record here, so a reproduction never
starts from code that is not what ran.

Example:
    >>> resolved = resolve_run("4c7db37c9e1b4f0a8a3e1f6e2b7d9c01", settings=settings)   # doctest: +SKIP
    >>> resolved.record.code.git.commit                                                  # doctest: +SKIP
    '1aa40f35...'
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, ConfigDict, Field

from reprise.capture import layout
from reprise.capture.record import RunRecord
from reprise.errors import NotFoundError, ReproductionError
from reprise.tracking.records import RunInfo

if TYPE_CHECKING:
    from reprise.config import Settings

__all__ = ["Focus", "ResolvedRun", "parse_run_id", "resolve_run"]

_RUN_ID: Final = re.compile(r"^[0-9a-f]{32}$")
_HINT: Final = "give a run id (32 hex digits, as `reprise run --json` prints it) or runs:/<run id>"


class Focus(BaseModel):
    """The nested run a reproduction is about, when it is not the captured run that gets re-run.

    Attributes:
        run_id: The nested run asked for.
        label: Its place in the captured run's tree (``random_forest``, ``run 2``...), the same in every execution.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    label: str


class ResolvedRun(BaseModel):
    """A run ready to be reproduced.

    Attributes:
        run: The captured MLflow run to re-run (name, experiment, parent, metrics, tags).
        record: Its RunRecord.
        patch: The recorded uncommitted change, checked against ``record.code.git.patch_digest`` (empty if none).
        focus: The nested run asked for, when the target was a run without a record of its own.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run: RunInfo
    record: RunRecord
    patch: bytes = Field(default=b"", exclude=True, repr=False)
    focus: Focus | None = None

    @property
    def target_run_id(self) -> str:
        """The run the verdict is about: the nested run asked for, else the captured run."""
        return self.focus.run_id if self.focus is not None else self.run.run_id


def parse_run_id(target: str) -> str:
    """Read a run id out of ``target`` (a run id or a ``runs:/`` URI).

    Raises:
        NotFoundError: ``target`` is neither.
    """
    text = target.strip()
    if text.startswith("runs:/"):
        text = text.removeprefix("runs:/").split("/", 1)[0]
    if not _RUN_ID.match(text):
        raise NotFoundError(f"{target!r} is not a run id", hint=_HINT)
    return text


def resolve_run(target: str, *, settings: Settings) -> ResolvedRun:
    """Find the run ``target`` names, its record and its patch.

    Args:
        target: A run id or ``runs:/<run id>``.
        settings: The project's settings (its tracking store).

    Returns:
        The run, its record and its patch.

    Raises:
        NotFoundError: No such run, or it has no Reprise record.
        ReproductionError: The record says the work tree was dirty but the patch is missing or does not match.
    """
    from reprise.tracking.records import nearest_captured, read_patch, read_record, run_info

    run_id = parse_run_id(target)
    run, label = nearest_captured(settings, run_info(settings, run_id))
    focus = None if label is None else Focus(run_id=run_id, label=label)
    record = read_record(settings, run.run_id)
    run_id = run.run_id
    git = record.code.git
    patch = b""
    if git.patch_digest:
        patch = read_patch(settings, run_id) or b""
        if not patch:
            raise ReproductionError(
                f"run {run_id} was captured in a dirty work tree but its reprise/code.patch is missing",
                hint="the uncommitted change cannot be restored; reproduce a run captured from a clean commit",
            )
        if hashlib.sha256(patch).hexdigest() != git.patch_digest:
            raise ReproductionError(
                f"{layout.ARTIFACT_DIR}/{layout.PATCH} of run {run_id} does not match the digest in its record "
                "(altered?)",
                hint="the recorded change cannot be trusted; reproduce a run captured from a clean commit",
            )
    if git.redacted:
        raise ReproductionError(
            f"run {run_id} was captured with secrets masked in its uncommitted change ({', '.join(git.redacted[:3])}): "
            "the code cannot be restored as it ran",
            hint="keep secrets out of the code (environment variables are never recorded), commit, and run again",
        )
    return ResolvedRun(run=run, record=record, patch=patch, focus=focus)
