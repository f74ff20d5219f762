"""Why a reproduction differs: the candidate causes found by diffing two RunRecords, most likely first.

Each cause names what differs (code, data, params, seed, command, a package, Python, OS, CPU, BLAS, thread counts,
environment variables) and shows the evidence. When no input differs and the results still do, the run is
**nondeterministic**, and the evidence says what in the code is the usual suspect: a generator created without a
seed, or parallel floating-point sums (a RandomForest predicting with ``n_jobs > 1`` differs by ~1e-13 from run to
run). Likelihoods are fixed, documented weights, not statistics: they only order the list.

Example:
    >>> explanation = explain(original, reproduced, comparison)   # doctest: +SKIP
    >>> explanation.causes[0].title                                # doctest: +SKIP
    'package six 1.16.0 -> 1.17.0'
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel, ConfigDict

from reprise.capture.environment import diff_environments
from reprise.errors import DataError
from reprise.reproduce.compare import Verdict

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from reprise.capture.environment import EnvironmentDiff, FieldChange
    from reprise.capture.record import RunRecord
    from reprise.reproduce.compare import Comparison

__all__ = [
    "INCIDENTAL_ENV_VARS",
    "Cause",
    "Explanation",
    "changed_patch_files",
    "explain",
    "is_incidental",
]

CauseKind = Literal[
    "code",
    "data",
    "params",
    "seed",
    "command",
    "packages",
    "python",
    "platform",
    "cpu",
    "threads",
    "blas",
    "gpu",
    "env_vars",
    "nondeterminism",
    "unverifiable",
    "failure",
]

#: Environment variables that say where a run is logged, not what it computes: differences in them are not causes.
INCIDENTAL_ENV_VARS: Final = frozenset(
    {
        "MLFLOW_RUN_ID",
        "MLFLOW_PARENT_RUN_ID",
        "MLFLOW_TRACKING_URI",
        # Who logs it (a teammate reproducing logs in as herself): never restored from another member's record.
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_AUTH",
        "MLFLOW_EXPERIMENT_ID",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_RUN_NAME",
        "MLFLOW_DISABLE_TELEMETRY",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
        "REPRISE_TRACKING_URI",
        "REPRISE_ARTIFACT_LOCATION",
        "REPRISE_STORE_URI",
        "REPRISE_EXPERIMENT",
        "REPRISE_REPRODUCTION_OF",
        "REPRISE_RUN_ID",
    }
)

#: Packages whose version changes numbers: a change in one of them is a likelier cause than in, say, a CLI library.
_NUMERIC_PACKAGES: Final = frozenset(
    {
        "numpy", "scipy", "scikit-learn", "pandas", "xgboost", "xgboost-cpu", "lightgbm", "catboost", "torch",
        "tensorflow", "jax", "jaxlib", "numba", "llvmlite", "statsmodels", "pyarrow", "polars", "threadpoolctl",
        "scipy-openblas64", "scipy-openblas32", "mkl", "openblas", "shap",
    }
)  # fmt: skip
_THREAD_VARS: Final = re.compile(r"^(OMP|MKL|OPENBLAS|NUMEXPR|VECLIB_MAXIMUM|BLIS)_.*THREADS$")
#: Relative differences below this are floating-point round-off, not a different computation.
_ROUND_OFF: Final = 1e-9
_MAX_PACKAGE_CAUSES: Final = 10
_MAX_EVIDENCE: Final = 12
_WEIGHTS: Final[dict[str, float]] = {
    "code": 0.95,
    "data": 0.95,
    "params": 0.9,
    "seed": 0.9,
    "command": 0.85,
    "package.numeric": 0.8,
    "package": 0.6,
    "python": 0.55,
    "gpu": 0.5,
    "threads": 0.45,
    "blas": 0.45,
    "env_vars": 0.3,
    "cpu": 0.35,
    "platform": 0.3,
}
_FIELD_PREFIXES: Final = (
    ("python.", "python"),
    ("cpu.", "cpu"),
    ("cuda_version", "gpu"),
    ("gpus", "gpu"),
    ("platform.", "platform"),
)
#: Parameter files (DVC's convention): a change in one shows as the params it sets, when the run logs them.
_PARAMS_FILES: Final = frozenset({"params.yaml", "params.yml", "params.json", "params.toml"})


class Cause(BaseModel):
    """One candidate cause of a difference.

    Attributes:
        kind: What kind of thing differs.
        title: One line naming it (``package six 1.16.0 -> 1.17.0``).
        likelihood: A fixed weight in 0..1 that orders the causes (not a probability).
        evidence: What was found, one item per line.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: CauseKind
    title: str
    likelihood: float
    evidence: tuple[str, ...] = ()


class Explanation(BaseModel):
    """The causes of a difference, most likely first.

    Attributes:
        causes: Candidate causes, by likelihood.
        nondeterministic: No input differs, yet the results do: the run itself is nondeterministic.
        summary: One sentence.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    causes: tuple[Cause, ...] = ()
    nondeterministic: bool = False
    summary: str = ""

    @property
    def first(self) -> Cause | None:
        """The most likely cause, if any."""
        return self.causes[0] if self.causes else None


def explain(
    original: RunRecord,
    reproduced: RunRecord,
    comparison: Comparison,
    *,
    code_changes: Sequence[str] | None = None,
    source_hints: Sequence[str] = (),
    original_params: Mapping[str, str] | None = None,
    reproduced_params: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
    log_tail: Sequence[str] = (),
    what_if: Sequence[str] = (),
) -> Explanation:
    """List what differs between the two records that could explain the comparison, most likely first.

    A cause is given only when the results differ (or the re-run failed): an identical or unverified comparison has
    none, whatever else differs. Nondeterminism is a cause only when no input differs, or, below the input causes,
    when the code holds a suspect for it.

    Args:
        original: The original run's record.
        reproduced: The re-run's record.
        comparison: The comparison of their outputs.
        code_changes: Files that differ between the two code states (commit diff and patch diff, outputs left
            out), from git; an empty list means none that matters. None: not known, judge by the digests alone.
        source_hints: Nondeterminism suspects in the code, from :func:`reprise.reproduce.suspects.scan_sources`.
        original_params: The original run's MLflow params (on top of the record's own ``params``).
        reproduced_params: The re-run's MLflow params.
        notes: Things the reproduction could not make equal (e.g. "Python 3.11.7 is not installed").
        log_tail: The last lines of the re-run's output, shown for a failed re-run.
        what_if: The ``name==version`` pins the reproduction was asked to use instead of the recorded ones.

    Returns:
        The explanation; ``causes`` is empty unless the results differ or the re-run failed.
    """
    if comparison.verdict in (Verdict.IDENTICAL, Verdict.UNVERIFIED):
        return Explanation(summary=_summary(comparison, [], nondeterministic=False, what_if=what_if))
    params = _param_causes(
        {**(original_params or {}), **original.params}, {**(reproduced_params or {}), **reproduced.params}
    )
    if params and code_changes:
        # A changed params.yaml whose values the run logged is the params cause, not a code change.
        code_changes = [path for path in code_changes if path.rsplit("/", 1)[-1] not in _PARAMS_FILES]
    causes = [
        *_code_causes(original, reproduced, code_changes),
        *_data_causes(original, reproduced),
        *params,
        *_seed_causes(original, reproduced),
        *_command_causes(original, reproduced),
        *_environment_causes(diff_environments(original.environment, reproduced.environment), notes, what_if),
    ]
    inputs_differ = bool(causes)
    differs = comparison.verdict in (Verdict.DIFFERENT, Verdict.WITHIN_TOLERANCE)
    unknown = _unverifiable(comparison)
    if differs and unknown is not None:
        causes.append(unknown)
        differs = False  # nothing else differs: no ground for calling the run nondeterministic
    nondeterministic = differs and not inputs_differ
    roundoff = _is_roundoff(comparison)
    if nondeterministic:
        causes.append(_nondeterminism(comparison, source_hints, roundoff, 0.9))
    elif differs and source_hints:
        # The input causes above already show the differences: this one shows only what points at the code.
        first = max(causes, key=lambda cause: cause.likelihood)
        causes.append(_suspects(source_hints, first, roundoff))
    if comparison.verdict is Verdict.FAILED:
        tail = tuple(line for line in log_tail[-_MAX_EVIDENCE:] if line.strip())
        causes.append(
            Cause(
                kind="failure",
                title=f"the re-run exited with code {comparison.exit_code}",
                likelihood=1.0,
                evidence=tail,
            )
        )
    causes.sort(key=lambda cause: -cause.likelihood)
    summary = _summary(comparison, causes, nondeterministic=nondeterministic, what_if=what_if)
    return Explanation(causes=tuple(causes), nondeterministic=nondeterministic, summary=summary)


def is_incidental(field: str) -> bool:
    """Whether a field of :func:`~reprise.capture.environment.diff_environments` says only where results are logged.

    Example:
        >>> is_incidental("env_vars.MLFLOW_RUN_ID"), is_incidental("env_vars.OMP_NUM_THREADS")
        (True, False)
    """
    return _field_kind(field) is None


def changed_patch_files(original: bytes | None, reproduced: bytes | None) -> list[str]:
    """The files whose part of two ``git diff --binary`` patches differs (a file in one patch only included).

    Args:
        original: The original run's ``code.patch`` (None: clean work tree).
        reproduced: The re-run's ``code.patch``.

    Returns:
        The paths, sorted.
    """
    a, b = _patch_blocks(original or b""), _patch_blocks(reproduced or b"")
    return sorted(path for path in a.keys() | b.keys() if a.get(path) != b.get(path))


def _code_causes(original: RunRecord, reproduced: RunRecord, known: Sequence[str] | None) -> list[Cause]:
    a, b = original.code.git, reproduced.code.git
    if (a.commit == b.commit and a.patch_digest == b.patch_digest) or known == []:
        return []
    changes = known or ()
    evidence = []
    if a.commit != b.commit:
        evidence.append(f"commit {_short(a.commit)} -> {_short(b.commit)}")
    if a.patch_digest != b.patch_digest:
        evidence.append(f"uncommitted change {_short(a.patch_digest) or 'none'} -> {_short(b.patch_digest) or 'none'}")
    evidence += [f"changed: {path}" for path in changes[:_MAX_EVIDENCE]]
    if len(changes) > _MAX_EVIDENCE:
        evidence.append(f"... and {len(changes) - _MAX_EVIDENCE} more files")
    title = f"code: {len(changes)} file(s) differ" if changes else "code: the commit or the uncommitted change differs"
    return [Cause(kind="code", title=title, likelihood=_WEIGHTS["code"], evidence=tuple(evidence))]


def _data_causes(original: RunRecord, reproduced: RunRecord) -> list[Cause]:
    a, b = original.inputs, reproduced.inputs
    if a is None and b is None:
        return []
    if a is None or b is None or a.digest != b.digest:
        try:
            changes = [] if a is None or b is None else _manifest_lines(a.diff(b))
        except DataError as exc:
            changes = [exc.message]
        if a is None or b is None:
            changes = ["inputs declared on one side only"]
        return [
            Cause(
                kind="data",
                title=f"data: {len(changes)} input difference(s)",
                likelihood=_WEIGHTS["data"],
                evidence=tuple(changes[:_MAX_EVIDENCE]),
            )
        ]
    return []


def _manifest_lines(diff: object) -> list[str]:
    added, removed, changed = (getattr(diff, name) for name in ("added", "removed", "changed"))
    return [f"changed: {p}" for p in changed] + [f"added: {p}" for p in added] + [f"removed: {p}" for p in removed]


def _param_causes(original: Mapping[str, str], reproduced: Mapping[str, str]) -> list[Cause]:
    names = sorted(name for name in original.keys() | reproduced.keys() if original.get(name) != reproduced.get(name))
    if not names:
        return []
    evidence = tuple(f"{name}: {original.get(name)} -> {reproduced.get(name)}" for name in names[:_MAX_EVIDENCE])
    return [
        Cause(
            kind="params",
            title=f"params: {', '.join(names[:4])}{'...' if len(names) > 4 else ''}",
            likelihood=_WEIGHTS["params"],
            evidence=evidence,
        )
    ]


def _seed_causes(original: RunRecord, reproduced: RunRecord) -> list[Cause]:
    a, b = original.randomness, reproduced.randomness
    if a == b:
        return []
    evidence = (f"seed {a.seed} -> {b.seed}", f"PYTHONHASHSEED {a.pythonhashseed} -> {b.pythonhashseed}")
    return [Cause(kind="seed", title=f"seed {a.seed} -> {b.seed}", likelihood=_WEIGHTS["seed"], evidence=evidence)]


def _command_causes(original: RunRecord, reproduced: RunRecord) -> list[Cause]:
    a, b = _portable_command(original), _portable_command(reproduced)
    if a == b or a is None or b is None:
        return []
    evidence = (f"original: {' '.join(a)}", f"re-run: {' '.join(b)}")
    return [Cause(kind="command", title="the command line differs", likelihood=_WEIGHTS["command"], evidence=evidence)]


def _portable_command(record: RunRecord) -> list[str] | None:
    """The recorded command with the run's own interpreter path written ``python`` (each run has its own venv)."""
    command = record.code.command
    if not command:
        return command
    head = "python" if command[0] == record.environment.python.executable else command[0]
    return [head, *command[1:]]


def _environment_causes(diff: EnvironmentDiff, notes: Sequence[str], what_if: Sequence[str] = ()) -> list[Cause]:
    causes: list[Cause] = []
    packages: list[Cause] = []
    asked = {_canonical_name(re.split(r"[\s@=<>!~;\[]", pin.strip(), maxsplit=1)[0]) for pin in what_if}
    for change in diff.packages_changed:
        old, new = change.old, change.new
        if old.version == new.version and _is_local(old.source) and _is_local(new.source):
            continue  # the same package installed from another folder (the reproduction's worktree): where, not what
        title = f"package {change.name} {old.version} -> {new.version}"
        what = ("asked for by --with (a what-if, not a drift)",) if _canonical_name(change.name) in asked else ()
        if old.version == new.version:
            where = f"{new.source or 'the index'} instead of {old.source or 'the index'}"
            title = f"package {change.name} {old.version}: installed from {where}"
        pair = (*what, f"original: {old.requirement()}", f"re-run: {new.requirement()}")
        packages.append(_package_cause(change.name, title, pair))
    for package in diff.packages_removed:
        packages.append(
            _package_cause(
                package.name,
                f"package {package.name} {package.version} missing from the re-run",
                (f"original: {package.requirement()}",),
            )
        )
    for package in diff.packages_added:
        packages.append(
            _package_cause(
                package.name,
                f"package {package.name} {package.version} only in the re-run",
                (f"re-run: {package.requirement()}",),
            )
        )
    packages.sort(key=lambda cause: -cause.likelihood)
    if len(packages) > _MAX_PACKAGE_CAUSES:
        rest = packages[_MAX_PACKAGE_CAUSES:]
        packages = packages[:_MAX_PACKAGE_CAUSES]
        packages.append(
            Cause(
                kind="packages",
                title=f"{len(rest)} more package differences",
                likelihood=min(c.likelihood for c in rest),
                evidence=tuple(c.title for c in rest[:_MAX_EVIDENCE]),
            )
        )
    causes += packages
    groups: dict[str, list[FieldChange]] = {}
    for field in diff.fields:
        kind = _field_kind(field.field)
        if kind is not None:
            groups.setdefault(kind, []).append(field)
    titles = {
        "python": "Python",
        "platform": "operating system",
        "cpu": "CPU",
        "threads": "thread counts",
        "blas": "BLAS/OpenMP libraries",
        "gpu": "GPU/CUDA",
        "env_vars": "environment variables",
    }
    for kind, fields in groups.items():
        evidence = [f"{field.field}: {field.old} -> {field.new}" for field in fields[:_MAX_EVIDENCE]]
        if kind == "python":
            evidence += [note for note in notes if "Python" in note]
        title = f"{titles[kind]}: {', '.join(f'{f.field} {f.old} -> {f.new}' for f in fields[:2])}"
        causes.append(Cause(kind=kind, title=title, likelihood=_WEIGHTS[kind], evidence=tuple(evidence)))  # type: ignore[arg-type]
    return causes


def _package_cause(name: str, title: str, evidence: tuple[str, ...]) -> Cause:
    weight = _WEIGHTS["package.numeric"] if name in _NUMERIC_PACKAGES else _WEIGHTS["package"]
    return Cause(kind="packages", title=title, likelihood=weight, evidence=evidence)


def _field_kind(name: str) -> str | None:
    if name.startswith("env_vars."):
        var = name.removeprefix("env_vars.")
        kind = None if var in INCIDENTAL_ENV_VARS else ("threads" if _THREAD_VARS.match(var) else "env_vars")
    elif name.startswith("blas."):
        kind = "threads" if name.endswith(".num_threads") else "blas"
    elif name in ("cpu.logical_count", "cpu.physical_count"):
        kind = "threads"
    elif name == "conda":
        kind = "env_vars"
    else:
        kind = next((kind for prefix, kind in _FIELD_PREFIXES if name.startswith(prefix)), None)
    return kind


def _canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def _suspects(hints: Sequence[str], first: Cause, roundoff: bool) -> Cause:
    """Nondeterminism as a lesser cause beside an input that differs: only the code's suspects as evidence."""
    why = f"less likely than {first.title}, which alone can explain the difference"
    if roundoff:
        why += "; the differences are round-off sized, which parallel sums also give"
    evidence = (why, *(f"suspect: {hint}" for hint in hints[:_MAX_EVIDENCE]))
    title = "also possible: nondeterminism in the code (suspects below)"
    return Cause(kind="nondeterminism", title=title, likelihood=0.2, evidence=evidence)


def _nondeterminism(comparison: Comparison, hints: Sequence[str], roundoff: bool, likelihood: float) -> Cause:
    evidence = list(comparison.differences[:_MAX_EVIDENCE])
    worst = comparison.max_relative_difference
    if roundoff and worst is not None:
        evidence.append(
            f"the largest relative difference is {worst:.2g}: floating-point round-off, i.e. the same numbers summed "
            "in another order (threads), e.g. a RandomForest predicting with n_jobs > 1"
        )
    else:
        evidence.append(
            "the run draws on something the record does not fix: unseeded randomness, threads, the clock, or state "
            "outside the run (a model registry, a database, a remote service)"
        )
    evidence += [f"suspect: {hint}" for hint in hints[:_MAX_EVIDENCE]]
    title = "nondeterministic: same recorded inputs, different results"
    if roundoff:
        title = "nondeterministic floating-point summation order (parallel threads, e.g. n_jobs > 1)"
    return Cause(kind="nondeterminism", title=title, likelihood=likelihood, evidence=tuple(evidence))


def _unverifiable(comparison: Comparison) -> Cause | None:
    """A cause when the only differences are outputs whose original bytes are gone, else None."""
    gone = [o.path for o in comparison.outputs if not o.original_available]
    others = [line for line in comparison.differences if not any(line.startswith(f"output {p}:") for p in gone)]
    if not gone or others:
        return None
    evidence = tuple(f"{path}: the original bytes are in neither the DVC cache nor the project" for path in gone)
    title = f"cannot tell: {len(gone)} output(s) differ by hash but their original bytes are gone; all else is equal"
    return Cause(kind="unverifiable", title=title, likelihood=0.9, evidence=evidence)


def _is_roundoff(comparison: Comparison) -> bool:
    worst = comparison.max_relative_difference
    return worst is not None and worst < _ROUND_OFF


def _summary(comparison: Comparison, causes: Sequence[Cause], *, nondeterministic: bool, what_if: Sequence[str]) -> str:
    verdict = comparison.verdict
    if verdict is Verdict.UNVERIFIED:
        return (
            "nothing to compare: neither run logged a metric or predictions, wrote an output file or printed a "
            "number; declare an output (-o), log a metric, or call run.log_predictions"
        )
    if verdict is Verdict.IDENTICAL:
        compared = comparison.evidence_summary
        change = f" with {', '.join(what_if)}" if what_if else ""
        return f"identical{change}: {compared}, all bitwise identical"
    if nondeterministic:
        return f"{verdict.value}: no input differs, so the run is nondeterministic"
    if causes:
        return f"{verdict.value}: most likely {causes[0].title}"
    return verdict.value


def _patch_blocks(patch: bytes) -> dict[str, bytes]:
    blocks: dict[str, bytes] = {}
    for block in re.split(rb"(?m)^(?=diff --git )", patch):
        header = block.split(b"\n", 1)[0]
        match = re.match(rb"diff --git a/(.+?) b/(.+)$", header)
        if match:
            blocks[match.group(2).decode("utf-8", "surrogateescape")] = block
    return blocks


def _is_local(source: str | None) -> bool:
    return source is not None and source.startswith("file:")


def _short(value: str | None) -> str:
    return "" if value is None else value[:12]
