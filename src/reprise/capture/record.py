"""The RunRecord: everything needed to re-run a run, and what came out of it.

A record has an inputs side (code, data, environment, randomness, params), fixed when the run starts, and an
outputs side (metrics, output manifest, prediction fingerprint, status) added when it ends. It is stored as the
``reprise/record.json`` artifact of the MLflow run, in canonical JSON.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reprise._canonical import canonical_json, digest
from reprise.capture.environment import Environment
from reprise.capture.git import GitState
from reprise.data.manifest import Manifest

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CodeState",
    "Outputs",
    "PredictionFingerprint",
    "RECORD_VERSION",
    "Randomness",
    "RunRecord",
    "fingerprint_predictions",
]

RECORD_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CodeState(_Frozen):
    """The code that ran: the git state and the command line.

    Attributes:
        git: Commit, branch, remote and the uncommitted change (its digest; the patch is a separate artifact).
        command: The command line that re-runs it (secrets redacted): the wrapped command of ``reprise run``, or how
            the process of ``reprise.start_run`` was started; None when there is none (an interactive session).
        workdir: The working directory, relative to the project root.
        notebook_sha256: The sha256 of the notebook the command runs, when the run was started in a Jupyter notebook
            (the command is then ``python -m reprise.capture.notebook NB.ipynb``); None otherwise.
    """

    git: GitState
    command: list[str] | None = None
    workdir: str = "."
    notebook_sha256: str | None = None


class Randomness(_Frozen):
    """The seeds the run was given."""

    seed: int
    pythonhashseed: str


class PredictionFingerprint(_Frozen):
    """A bitwise identity of a prediction array, with enough shape to compare two of them."""

    sha256: str
    dtype: str
    shape: tuple[int, ...]


class Outputs(_Frozen):
    """What a run produced.

    Attributes:
        metrics: The run's own metrics.
        manifest: The files the run wrote, declared as outputs or found written in the project.
        predictions: The fingerprint of the predictions it logged.
        exit_code: The command's exit code.
        undeclared: The files of ``manifest`` found written without being declared.
        not_kept: Outputs whose contents were not kept with the run (compared by hash only).
        stdout_kept: What the run printed is kept (``reprise/stdout.txt``).
    """

    metrics: dict[str, float] = Field(default_factory=dict)
    manifest: Manifest | None = None
    predictions: PredictionFingerprint | None = None
    exit_code: int | None = None
    undeclared: tuple[str, ...] = ()
    not_kept: tuple[str, ...] = ()
    stdout_kept: bool = False


class RunRecord(_Frozen):
    """Everything needed to re-run an MLflow run, and what it produced.

    ``inputs_digest`` covers code, data, environment, randomness and params: two runs with the same inputs digest
    were asked to do the same thing. Timestamps, hostnames and run ids stay out of it.
    """

    record_version: int = RECORD_VERSION
    run_id: str
    experiment_id: str
    tracking_uri: str
    status: Literal["RUNNING", "FINISHED", "FAILED", "KILLED"]
    code: CodeState
    inputs: Manifest | None
    environment: Environment
    randomness: Randomness
    params: dict[str, str]
    outputs: Outputs = Field(default_factory=Outputs)
    started_at: str
    ended_at: str | None = None

    @property
    def environment_digest(self) -> str:
        """Digest of the environment's identity (packages, Python, OS)."""
        return self.environment.digest()

    @property
    def data_digest(self) -> str | None:
        """Digest of the declared inputs, or None when the run declared none."""
        return None if self.inputs is None else self.inputs.digest

    @property
    def inputs_digest(self) -> str:
        """Digest of everything the run was asked to do."""
        return digest(
            {
                "code": self.code.model_dump(mode="json", exclude={"git": {"root"}}),
                "data": self.data_digest,
                "environment": self.environment_digest,
                "randomness": self.randomness.model_dump(mode="json"),
                "params": self.params,
            }
        )

    def to_json(self) -> str:
        """The canonical JSON form (sorted keys), as stored in MLflow."""
        return canonical_json(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, text: str | bytes) -> RunRecord:
        """Parse a record written by :meth:`to_json`."""
        return cls.model_validate_json(text)


def fingerprint_predictions(predictions: Any) -> PredictionFingerprint:
    """Fingerprint an array-like of predictions bitwise (C order, little-endian).

    Args:
        predictions: Anything ``numpy.asarray`` accepts (lists, arrays, pandas objects).
    """
    import numpy as np

    array = np.ascontiguousarray(np.asarray(predictions))
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    payload = array.tobytes() if array.dtype != object else canonical_json(array.tolist()).encode()
    shape: Sequence[int] = array.shape
    return PredictionFingerprint(sha256=hashlib.sha256(payload).hexdigest(), dtype=str(array.dtype), shape=tuple(shape))
