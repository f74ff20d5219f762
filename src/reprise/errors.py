"""The one exception tree of Reprise.

Every error a user can cause or fix derives from :class:`RepriseError` and carries a one-line ``message`` (what
happened and where), a ``hint`` (the next command to run), a stable kebab-case ``code`` and the process
``exit_code`` the CLI uses. A reproduction that comes out different is a ``Verdict``, never an exception.

    RepriseError
    ├── ConfigError                    bad reprise.toml / [tool.reprise] / REPRISE_* value
    ├── NotAProjectError               no reprise.toml above the working directory
    ├── CaptureError                   git / environment / command capture failed
    │   ├── GitError                   a git command failed (the one git adapter, reprise/_git.py)
    │   └── DirtyWorktreeError
    ├── DataError                      data missing or unreadable
    │   ├── HashMismatchError
    │   └── ManifestMismatchError
    ├── NotFoundError (LookupError)    unknown run, model, version, alias
    ├── RegistryError
    │   └── GateFailedError
    ├── ReproductionError
    │   └── RecordIntegrityError       a run's record was edited or is corrupt (exit 5)
    ├── PipelineError                  a pipeline stage failed (names the stage)
    ├── VersioningError                a pipeline or unified version refused (semver, clash, dirty tree)
    │   ├── LineageError               a relation refused (it would make a cycle) or a REF that names nothing
    │   ├── ReleaseGuardError          a release promotion refused by a guard (names the guard and the way past it)
    │   └── AttestationError           a release's attestation is missing, untrusted or does not match (exit 6)
    ├── ServingError                   the prediction service could not answer
    │   ├── NotReadyError              no model loaded yet (HTTP 503)
    │   └── PredictionError            the model raised (HTTP 500 with an error id)
    ├── TrackingError                  the MLflow store refused or failed
    ├── StoreError                     the metadata store cannot be reached, is damaged or refused
    └── MissingExtraError (ImportError)  an optional extra is not installed

    ReproducibilityWarning (UserWarning)   a run was captured but cannot be re-run as it is
"""

from __future__ import annotations

__all__ = [
    "AttestationError",
    "CaptureError",
    "ConfigError",
    "DataError",
    "DirtyWorktreeError",
    "GateFailedError",
    "GitError",
    "HashMismatchError",
    "LineageError",
    "ManifestMismatchError",
    "MissingExtraError",
    "NotAProjectError",
    "NotFoundError",
    "NotReadyError",
    "PipelineError",
    "PredictionError",
    "RecordIntegrityError",
    "RegistryError",
    "ReleaseGuardError",
    "RepriseError",
    "ReproducibilityWarning",
    "ReproductionError",
    "ServingError",
    "StoreError",
    "TrackingError",
    "VersioningError",
]


class RepriseError(Exception):
    """Base of every error Reprise raises on purpose.

    Args:
        message: What went wrong and where, in one line.
        hint: The next thing to run or change to fix it.
    """

    code: str = "reprise-error"
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        if not message:
            raise ValueError("RepriseError needs a message")
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} (hint: {self.hint})"


class ConfigError(RepriseError):
    """A setting is malformed, unknown or of the wrong type."""

    code = "config-error"
    exit_code = 2


class NotAProjectError(RepriseError):
    """The command needs a Reprise project and none was found."""

    code = "not-a-project"
    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = "reprise init") -> None:
        super().__init__(message, hint=hint)


class CaptureError(RepriseError):
    """Capturing code, environment or a command failed."""

    code = "capture-error"


class GitError(CaptureError):
    """git is missing, timed out, or a git command failed (names the command, the folder and git's last line)."""

    code = "git-error"


class DirtyWorktreeError(CaptureError):
    """The git work tree has uncommitted changes where a clean one is required."""

    code = "dirty-worktree"


class DataError(RepriseError):
    """Data is missing, unreadable or not what was recorded."""

    code = "data-error"


class HashMismatchError(DataError):
    """A file's content hash differs from the recorded one."""

    code = "hash-mismatch"


class ManifestMismatchError(DataError):
    """A folder differs from its manifest (missing, extra or changed files)."""

    code = "manifest-mismatch"


class NotFoundError(RepriseError, LookupError):
    """A named thing (run, model, version, alias) does not exist."""

    code = "not-found"
    exit_code = 3


class RegistryError(RepriseError):
    """The model registry refused an operation."""

    code = "registry-error"


class GateFailedError(RegistryError):
    """A model version failed a quality gate."""

    code = "gate-failed"


class ReproductionError(RepriseError):
    """A reproduction could not be carried out (not: it came out different)."""

    code = "reproduction-error"


class RecordIntegrityError(ReproductionError):
    """A run's ``reprise/record.json`` does not match the digest taken at capture, or cannot be read as a record.

    Its own exit code (5) tells it apart from a reproduction that ran and came out different (1).
    """

    code = "record-integrity"
    exit_code = 5


class PipelineError(RepriseError):
    """A pipeline stage (a DVC stage) failed; the message names the stage and its last error line."""

    code = "pipeline-failed"


class VersioningError(RepriseError):
    """A pipeline version, unified version or other versioned fact was refused (bad semver, content clash...)."""

    code = "versioning-error"


class LineageError(VersioningError):
    """A lineage relation was refused (it would close a cycle), or a lineage REF is malformed."""

    code = "lineage-error"


class ReleaseGuardError(VersioningError):
    """A release promotion, rollback or creation was refused by a guard; ``guard`` names which one.

    Attributes:
        guard: ``verified``, ``revoked``, ``gates``, ``prerelease``, ``order`` or ``status``; ``maintainer`` when a
            member who is no maintainer of the team's server promotes to the last environment or revokes.
    """

    code = "release-guard"

    def __init__(self, guard: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"guard '{guard}': {message}", hint=hint)
        self.guard = guard


class AttestationError(VersioningError):
    """A release's attestation is missing, untrusted (or signed by a revoked key), or no longer matches.

    It no longer matches when the release or the model's bytes changed; ``reprise serve --require-attestation``
    refuses such a model.
    """

    code = "attestation-failed"
    exit_code = 6


class ServingError(RepriseError):
    """The prediction service could not answer a request."""

    code = "serving-error"


class NotReadyError(ServingError):
    """No model is loaded yet, or the service is stopping: answered 503."""

    code = "not-ready"


class PredictionError(ServingError):
    """The model raised on a request: answered 500 with ``error_id``; the traceback is in the server log only.

    Attributes:
        error_id: The id the client gets and the server log carries.
        served: The model (name, version, run) that failed.
    """

    code = "prediction-failed"

    def __init__(self, error_id: str, served: object) -> None:
        super().__init__(f"the model failed (error id {error_id})", hint="see the server log for this error id")
        self.error_id = error_id
        self.served = served


class TrackingError(RepriseError):
    """The MLflow tracking store refused or failed an operation."""

    code = "tracking-error"


class StoreError(RepriseError):
    """The metadata store (``store_uri``) cannot be reached, is damaged, or refused an operation."""

    code = "store-error"


class MissingExtraError(RepriseError, ImportError):
    """An optional dependency group is not installed."""

    code = "missing-extra"

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is needed here but is not installed",
            hint=f"uv pip install 'reprise[{extra}]'",
        )


class ReproducibilityWarning(UserWarning):
    """A run was captured but something about it cannot be reproduced (e.g. it was started interactively)."""
