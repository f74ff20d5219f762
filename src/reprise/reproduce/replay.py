"""Reproduce a captured run from its record alone, in isolation, and say whether it comes out the same, and why not.

:func:`reproduce_run` makes a ``git worktree`` at the recorded commit and applies the recorded patch; restores the input
bytes by hash (DVC cache, project, ``dvc pull``) and verifies them before anything runs; builds a fresh venv with uv
from the recorded pins; re-runs the recorded command there as a captured run (with the recorded seed and
environment variables) hanging off a "reproduction" run tagged ``reprise.reproduction_of``; compares metrics, output
hashes and predictions; explains the differences; and stores the verdict with both runs (tag
``reprise.last_reproduction=<new run>:<verdict>`` on the original, ``reprise/reproduction.json`` on the new run).
``in_place=True`` skips the worktree and the venv: a quick check that the current checkout still reproduces.

Example:
    >>> result = reproduce_run("4c7db37c9e1b4f0a8a3e1f6e2b7d9c01")     # doctest: +SKIP
    >>> result.verdict, result.explanation.summary                  # doctest: +SKIP
    (<Verdict.IDENTICAL: 'identical'>, 'identical')
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reprise.capture.environment import EnvironmentDiff
from reprise.errors import CaptureError, ReproductionError
from reprise.reproduce._data import DataRestore
from reprise.reproduce._venv import EnvironmentBuild
from reprise.reproduce.compare import Comparison, Tolerance, Verdict
from reprise.reproduce.explain import Explanation
from reprise.reproduce.resolve import Focus

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from reprise.config import Settings
    from reprise.reproduce._bytecode import BytecodeFill
    from reprise.reproduce.compare import RunSide
    from reprise.reproduce.resolve import ResolvedRun

__all__ = ["Reproduction", "Timings", "reproduce_run"]


class Timings(BaseModel):
    """Wall time of each step, in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resolve: float = 0.0
    worktree: float = 0.0
    data: float = 0.0
    environment: float = 0.0
    run: float = 0.0
    compare: float = 0.0
    cleanup: float = 0.0
    total: float = 0.0


class Reproduction(BaseModel):
    """The outcome of a reproduction.

    Attributes:
        original_run_id: The captured run re-run.
        focus: The nested run the verdict is about, when the target was one (see :class:`Focus`).
        reproduction_run_id: The re-run's captured run (None if it never started).
        parent_run_id: The "reproduction" run the re-run hangs off.
        mode: ``isolated`` (worktree + fresh venv) or ``in_place``.
        verdict: identical, within_tolerance, different or failed.
        nondeterministic: No input differs but the results do.
        comparison: Metric, output and prediction deltas.
        explanation: The causes, most likely first.
        environment: How the environment was built.
        environment_diff: What differs between the environments recorded by the two runs.
        data: Where the inputs came from.
        commit: The commit checked out.
        patch_applied: The recorded uncommitted change was applied.
        command: The command line of the re-run.
        what_if: The pins and environment variables that replaced recorded ones (``--with``, ``--env``): a what-if,
            not a drift.
        workdir: The kept worktree/venv folder (``--keep``), else None.
        log_tail: The last lines of the re-run's output.
        timings: Per-step wall times.
        original_seconds: How long the original run took.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    original_run_id: str
    focus: Focus | None = None
    reproduction_run_id: str | None
    parent_run_id: str | None = None
    mode: Literal["isolated", "in_place"]
    verdict: Verdict
    nondeterministic: bool = False
    comparison: Comparison
    explanation: Explanation
    environment: EnvironmentBuild
    environment_diff: EnvironmentDiff | None = None
    data: DataRestore
    commit: str | None = None
    patch_applied: bool = False
    command: tuple[str, ...] = ()
    what_if: tuple[str, ...] = ()
    workdir: str | None = None
    log_tail: tuple[str, ...] = ()
    timings: Timings = Field(default_factory=Timings)
    original_seconds: float | None = None

    @property
    def headline(self) -> str:
        """One line: the verdict, what it rests on, and the first cause when there is one."""
        text = self.verdict.value.replace("_", " ")
        if self.focus is not None:
            text += (
                f" for {self.focus.label} (run {self.focus.run_id[:8]}, re-run through run {self.original_run_id[:8]})"
            )
        if self.what_if:
            text += f" with {', '.join(self.what_if)} (what-if)"
        if self.nondeterministic:
            text += " (nondeterministic)"
        if self.verdict in (Verdict.IDENTICAL, Verdict.WITHIN_TOLERANCE, Verdict.DIFFERENT):
            text += f" ({self.comparison.evidence_summary} compared)"
        first = self.explanation.first
        if self.verdict is Verdict.UNVERIFIED:
            text += f": {self.explanation.summary}"
        elif self.verdict is not Verdict.IDENTICAL and first is not None:
            text += f": {first.title}"
        return text


def reproduce_run(
    target: str,
    *,
    settings: Settings | None = None,
    workdir: Path | None = None,
    keep: bool = False,
    in_place: bool = False,
    tolerance: Tolerance | None = None,
    packages: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    echo: bool = False,
    on_step: Callable[[str], None] | None = None,
    verifies: Sequence[str] = (),
) -> Reproduction:
    """Re-run a captured run from its record and compare the outcome with the original.

    Args:
        target: A run id (or ``runs:/<run id>``); a run nested in a captured run is re-run through it.
        settings: The project's settings (default: loaded from the working directory).
        workdir: Where to put the worktree and the venv (default: a temporary folder).
        keep: Keep the worktree and the venv afterwards.
        in_place: Use the current checkout and interpreter instead of a worktree and a fresh venv.
        tolerance: Numeric tolerance (default ``atol=1e-6``).
        packages: ``name==version`` pins that replace recorded ones (a what-if reproduction; not in place).
        env: Environment variables that replace recorded ones, e.g. ``{"OMP_NUM_THREADS": "2"}`` (a what-if).
        echo: Copy the re-run's output to stderr as it comes.
        on_step: Called with one line as each step ends.
        verifies: REFs the verdict is also about (``model:clf/3`` when a model version was asked for); the first
            is recorded as the reproduction's target.

    Returns:
        The reproduction: verdict, comparison, explanation, and how it was done.

    Raises:
        NotFoundError: Unknown run, or a run without a Reprise record.
        DataError: The recorded input bytes cannot be restored or do not verify (the message names the files).
        ReproductionError: Something else prevented the re-run (no command, unknown commit, uv failure...).
    """
    from reprise.config import load_settings
    from reprise.reproduce._execute import replay_argv
    from reprise.reproduce.resolve import resolve_run

    settings = settings or load_settings()
    clock = _Clock()
    resolved = resolve_run(target, settings=settings)
    replay_argv(resolved.record, sys.executable, run_name=None, outputs=())  # no command: say so before any work
    clock.lap("resolve")
    say = on_step or (lambda _: None)
    base: Path | None = None
    stage: _InPlace | _Isolated | None = None
    try:
        if in_place:
            stage = _InPlace(resolved, settings, say, clock)
        else:
            base = _make_base(workdir, resolved.run.run_id)
            stage = _Isolated(resolved, settings, say, clock, base, packages)
        what_if = _WhatIf(packages=() if in_place else tuple(packages), env=dict(env or {}))
        result = _run_and_compare(
            resolved, settings, stage, clock, tolerance or Tolerance(), echo, say, keep, what_if, verifies
        )
    finally:
        if stage is not None and stage.bytecode is not None:
            stage.bytecode.finish(harvest=False)
        if base is not None and not keep:
            _cleanup(settings, base)
    if base is not None and not keep:
        cleanup = clock.lap("cleanup")
        total = round(time.perf_counter() - clock.start, 3)
        result = result.model_copy(
            update={"timings": result.timings.model_copy(update={"cleanup": cleanup, "total": total})}
        )
    return result


@dataclass(frozen=True)
class _WhatIf:
    """What the reproduction was asked to change: pins and environment variables."""

    packages: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        return (*self.packages, *(f"{name}={value}" for name, value in sorted(self.env.items())))


class _Clock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.times: dict[str, float] = {}

    def lap(self, name: str) -> float:
        now = time.perf_counter()
        self.times[name] = round(now - self.last, 3)
        self.last = now
        return self.times[name]


class _InPlace:
    """The current checkout and interpreter."""

    mode: Literal["in_place"] = "in_place"

    def __init__(self, resolved: ResolvedRun, settings: Settings, say: Callable[[str], None], clock: _Clock) -> None:
        from reprise.reproduce._data import snapshot_outputs, verify_inputs
        from reprise.reproduce._venv import current_environment

        record = resolved.record
        self.project = settings.project_dir
        self.base: Path | None = None
        self.log_dir = settings.state_dir
        self.data = verify_inputs(record.inputs, self.project, resolved.run.run_id)
        clock.lap("data")
        say(f"inputs verified in place: {self.data.files} file(s) match the record")
        self.environment = current_environment(record.environment)
        self.python, self.venv, self.patch_applied = sys.executable, None, False
        self.bytecode: BytecodeFill | None = None
        self.saved = snapshot_outputs(record.outputs.manifest, self.project)


class _Isolated:
    """A worktree at the recorded commit (patch applied), the inputs restored, a fresh venv."""

    mode: Literal["isolated"] = "isolated"

    def __init__(
        self,
        resolved: ResolvedRun,
        settings: Settings,
        say: Callable[[str], None],
        clock: _Clock,
        base: Path,
        packages: Sequence[str],
    ) -> None:
        from reprise.capture.git import apply_patch
        from reprise.reproduce._bytecode import BytecodeCache, BytecodeFill, donor_site_packages, site_packages
        from reprise.reproduce._data import restore_inputs
        from reprise.reproduce._git import add_worktree, has_commit, toplevel
        from reprise.reproduce._venv import build_venv

        record, run_id = resolved.record, resolved.run.run_id
        commit = record.code.git.commit
        top = toplevel(settings.project_dir)
        if commit is None or not has_commit(top, commit):
            raise ReproductionError(
                f"run {run_id} was captured at commit {commit or '(none: git was unavailable)'}, "
                f"which is not in the repository at {top}",
                hint=f"git -C {top} fetch --all, then run again",
            )
        code = base / "code"
        add_worktree(top, code, commit)
        try:
            apply_patch(code, resolved.patch)
        except CaptureError as exc:
            raise ReproductionError(exc.message, hint=exc.hint) from exc
        self.patch_applied = bool(resolved.patch)
        self.base: Path | None = base
        self.log_dir = base
        self.project = code / settings.project_dir.relative_to(top)
        clock.lap("worktree")
        say(f"worktree at {commit[:12]}{' with the recorded patch applied' if resolved.patch else ''}: {code}")
        self.data = restore_inputs(record.inputs, self.project, settings.project_dir, run_id)
        clock.lap("data")
        say(
            f"inputs restored and verified: {self.data.files} file(s) ({self.data.in_checkout} in git, "
            f"{self.data.from_cache} from the DVC cache, {self.data.from_project} from the project, "
            f"{self.data.pulled} pulled)"
        )
        self.venv = base / "venv"
        self.environment = build_venv(
            record.environment,
            self.venv,
            original_root=record.code.git.root,
            worktree_root=code,
            project_dir=self.project,
            overrides=packages,
        )
        self.python = str(self.venv / "bin" / "python")
        self.saved: dict[str, bytes] = {}
        target, donor = site_packages(self.venv), donor_site_packages(self.environment.python_version)
        self.bytecode = BytecodeFill(BytecodeCache(), target, donor).start() if target else None
        clock.lap("environment")
        where = "the uv cache" if self.environment.offline else "the index"
        say(f"venv: Python {self.environment.python_version}, {self.environment.pins} pins from {where}")
        for note in self.environment.notes:
            say(f"note: {note}")


def _run_and_compare(
    resolved: ResolvedRun,
    settings: Settings,
    stage: _InPlace | _Isolated,
    clock: _Clock,
    tolerance: Tolerance,
    echo: bool,
    say: Callable[[str], None],
    keep: bool,
    what_if: _WhatIf,
    verifies: Sequence[str],
) -> Reproduction:
    from reprise.reproduce._execute import child_env, execute, replay_argv
    from reprise.tracking import records

    run, record = resolved.run, resolved.record
    outputs = _declared_outputs(resolved)
    argv = replay_argv(record, stage.python, run_name=run.name or None, outputs=outputs)
    parent = records.create_run(
        settings,
        run.experiment_id,
        f"reproduction of {run.name or run.run_id[:8]}",
        {"reprise.reproduction_of": run.run_id, "reprise.reproduction_mode": stage.mode},
    )
    status = "FAILED"
    try:
        env = child_env(
            record,
            settings,
            experiment=run.experiment_name,
            parent_run_id=parent,
            bin_dir=Path(stage.python).parent,
            venv=stage.venv,
            overrides=what_if.env,
        )
        log = stage.log_dir / f"reproduce-{parent}.log"
        say(f"re-running: {' '.join(record.code.command or [])}")
        exit_code, tail = execute(argv, cwd=stage.project / record.code.workdir, env=env, log=log, echo=echo)
        if stage.bytecode is not None:
            stage.bytecode.finish(harvest=exit_code == 0)
            fill = stage.bytecode
            update = {"bytecode_cached": fill.linked, "bytecode_borrowed": fill.borrowed}
            stage.environment = stage.environment.model_copy(update=update)
        children = records.child_runs(settings, parent)
        clock.lap("run")
        if not children:
            raise ReproductionError(
                f"the re-run exited with code {exit_code} before its run was created: {tail[-1] if tail else ''}",
                hint=f"see the full output in {log}",
            )
        result = _compare(resolved, settings, stage, children[0].run_id, exit_code, tail, tolerance, argv, what_if)
        clock.lap("compare")
        result = result.model_copy(
            update={
                "parent_run_id": parent,
                "workdir": str(stage.base) if keep and stage.base is not None else None,
                "timings": Timings(**clock.times, total=round(time.perf_counter() - clock.start, 3)),
            }
        )
        _store(settings, result, verifies)
        status = "FINISHED"
        return result
    finally:
        records.end_run(settings, parent, status)


def _compare(
    resolved: ResolvedRun,
    settings: Settings,
    stage: _InPlace | _Isolated,
    new_run_id: str,
    exit_code: int,
    tail: list[str],
    tolerance: Tolerance,
    argv: list[str],
    what_if: _WhatIf,
) -> Reproduction:
    from reprise.capture.environment import diff_environments
    from reprise.reproduce._data import original_output_reader, reproduced_output_reader
    from reprise.reproduce._git import changed_files, toplevel
    from reprise.reproduce.compare import RunSide, compare_runs
    from reprise.reproduce.explain import changed_patch_files, explain
    from reprise.reproduce.suspects import scan_sources
    from reprise.tracking import records

    run, record = resolved.run, resolved.record
    new_record = records.read_record(settings, new_run_id)
    new_run = records.run_info(settings, new_run_id)
    original = RunSide(
        metrics=records.metric_tree(settings, run.run_id),
        manifest=record.outputs.manifest,
        fingerprint=record.outputs.predictions,
        predictions=records.read_predictions(settings, run.run_id),
        exit_code=record.outputs.exit_code,
        read_output=original_output_reader(
            stage.project,
            settings.project_dir,
            stage.saved,
            lambda path: records.read_output(settings, run.run_id, path),
        ),
        stdout=records.read_stdout(settings, run.run_id) if record.outputs.stdout_kept else None,
    )
    reproduced = RunSide(
        metrics=records.metric_tree(settings, new_run_id),
        manifest=new_record.outputs.manifest,
        fingerprint=new_record.outputs.predictions,
        predictions=records.read_predictions(settings, new_run_id),
        exit_code=new_record.outputs.exit_code if new_record.outputs.exit_code is not None else exit_code,
        read_output=reproduced_output_reader(stage.project),
        stdout=records.read_stdout(settings, new_run_id) if new_record.outputs.stdout_kept else None,
    )
    if resolved.focus is not None:
        original, reproduced = _focused(settings, resolved.focus, new_run_id, original, reproduced)
    comparison = compare_runs(original, reproduced, tolerance)
    new_git = new_record.code.git
    top = toplevel(settings.project_dir)
    changes = set(changed_files(top, record.code.git.commit, new_git.commit))
    if record.code.git.patch_digest != new_git.patch_digest:
        changes |= set(changed_patch_files(resolved.patch, records.read_patch(settings, new_run_id)))
    outputs = {
        *_declared_outputs(resolved),
        *(new_record.outputs.manifest.paths if new_record.outputs.manifest else ()),
    }
    code_changes = _code_only(changes, settings.project_dir.relative_to(top).as_posix(), outputs)
    hints = scan_sources(stage.project) if comparison.verdict in (Verdict.DIFFERENT, Verdict.WITHIN_TOLERANCE) else []
    explanation = explain(
        record,
        new_record,
        comparison,
        code_changes=code_changes,
        source_hints=hints,
        original_params=run.params,
        reproduced_params=new_run.params,
        notes=stage.environment.notes,
        log_tail=tail,
        what_if=what_if.labels,
    )
    return Reproduction(
        original_run_id=run.run_id,
        focus=resolved.focus,
        reproduction_run_id=new_run_id,
        mode=stage.mode,
        verdict=comparison.verdict,
        nondeterministic=explanation.nondeterministic,
        comparison=comparison,
        explanation=explanation,
        environment=stage.environment,
        environment_diff=diff_environments(record.environment, new_record.environment),
        data=stage.data,
        commit=record.code.git.commit,
        patch_applied=stage.patch_applied,
        command=tuple(argv),
        what_if=what_if.labels,
        log_tail=tuple(tail),
        original_seconds=_seconds(record.started_at, record.ended_at),
    )


def _focused(
    settings: Settings, focus: Focus, new_run_id: str, original: RunSide, reproduced: RunSide
) -> tuple[RunSide, RunSide]:
    """Both sides narrowed to the nested run asked for: its own metrics and predictions, in each execution."""
    from reprise.reproduce.compare import RunSide
    from reprise.tracking import records

    narrowed = RunSide(
        metrics=records.metric_tree(settings, focus.run_id),
        predictions=records.read_predictions(settings, focus.run_id),
        exit_code=original.exit_code,
    )
    match = records.run_tree(settings, new_run_id).get(focus.label)
    if match is None:  # the re-run made no such nested run: nothing of it to compare, every metric is missing
        return narrowed, RunSide(metrics={}, exit_code=reproduced.exit_code)
    again = RunSide(
        metrics=records.metric_tree(settings, match.run_id),
        predictions=records.read_predictions(settings, match.run_id),
        exit_code=reproduced.exit_code,
    )
    return narrowed, again


def _store(settings: Settings, result: Reproduction, verifies: Sequence[str]) -> None:
    """The verdict in the metadata store (its home, linked in lineage), mirrored as tags and files on the runs."""
    from reprise.capture import layout
    from reprise.reproduce.report import render_html, to_json
    from reprise.tracking import records

    verdict = result.verdict.value + (":nondeterministic" if result.nondeterministic else "")
    new_id = result.reproduction_run_id or ""
    files = {layout.REPRODUCTION_JSON: to_json(result), layout.REPRODUCTION_HTML: render_html(result)}
    if result.parent_run_id:
        target = f"run:{result.focus.run_id if result.focus else result.original_run_id}"
        record_reproduction(
            settings,
            reproduction_id=result.parent_run_id,
            target=verifies[0] if verifies else target,
            verdict=result.verdict.value,
            causes=[{"kind": cause.kind, "title": cause.title} for cause in result.explanation.causes],
            details={
                "headline": result.headline,
                "original_run_id": result.original_run_id,
                "reproduction_run_id": new_id,
                "focus": None if result.focus is None else result.focus.model_dump(),
                "evidence": result.comparison.evidence_summary,
                "nondeterministic": result.nondeterministic,
            },
            report_path=f"runs:/{result.parent_run_id}/{layout.ARTIFACT_DIR}/{layout.REPRODUCTION_HTML}",
            seconds=result.timings.total,
            verifies=[target, *verifies],
        )
    records.set_tags(settings, result.original_run_id, {"reprise.last_reproduction": f"{new_id}:{verdict}"})
    tags = {"reprise.reproduction_of": result.original_run_id, "reprise.reproduction_verdict": verdict}
    for run_id in (new_id, result.parent_run_id):
        if run_id:
            records.set_tags(settings, run_id, tags)
            records.log_files(settings, run_id, files)


def record_reproduction(
    settings: Settings,
    *,
    reproduction_id: str,
    target: str,
    verdict: str,
    causes: list[dict[str, Any]],
    details: dict[str, Any],
    report_path: str | None,
    seconds: float,
    verifies: Sequence[str] = (),
) -> None:
    """Store a reproduction's verdict, who reached it and when, linked in lineage to every REF it verifies.

    Args:
        settings: Project settings (their store).
        reproduction_id: Its id (32 hex digits).
        target: The REF reproduced.
        verdict: The verdict's value.
        causes: ``{"kind", "title"}`` of each cause, most likely first.
        details: What else a reader needs (headline, runs compared, evidence).
        report_path: Where the report is.
        seconds: How long it took (the start is that long before now).
        verifies: Other REFs it verifies (the run of a model version, the components of a unified version...).
    """
    from datetime import UTC, timedelta

    from reprise.registry.history import Actor
    from reprise.store.db import open_store
    from reprise.store.reproductions import ReproductionRow, insert_reproduction

    finished = datetime.now(UTC)
    row = ReproductionRow(
        reproduction_id=reproduction_id,
        target=target,
        verdict=verdict,
        causes=causes,
        details=details,
        report_path=report_path,
        actor=str(Actor.current()),
        started_at=finished - timedelta(seconds=seconds),
        finished_at=finished,
    )
    insert_reproduction(open_store(settings), row, verifies)


def _code_only(changes: set[str], offset: str, outputs: set[str]) -> list[str]:
    """Changed files that are code: not the runs' own outputs (untracked outputs travel in the patch) nor dvc.lock."""
    prefix = "" if offset in ("", ".") else offset.rstrip("/") + "/"
    owned = {prefix + out.rstrip("/") for out in outputs if out not in ("", ".")}
    return sorted(
        path
        for path in changes
        if path.rsplit("/", 1)[-1] != "dvc.lock" and not any(path == o or path.startswith(o + "/") for o in owned)
    )


def _declared_outputs(resolved: ResolvedRun) -> list[str]:
    outputs = resolved.record.outputs
    declared = set(outputs.manifest.paths) - set(outputs.undeclared) if outputs.manifest is not None else set()
    missing = resolved.run.tags.get("reprise.missing_outputs", "")
    declared |= {path for path in missing.split(",") if path}
    return sorted(declared)


def _make_base(workdir: Path | None, run_id: str) -> Path:
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix=f"reprise-reproduce-{run_id[:8]}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"reproduce-{run_id[:8]}-", dir=workdir))


def _cleanup(settings: Settings, base: Path) -> None:
    """Remove the worktree from git now, and the folder (mostly the venv's ~30,000 files) in the background."""
    from reprise.reproduce._git import remove_worktree, toplevel

    code = base / "code"
    if code.exists():
        with contextlib.suppress(ReproductionError, CaptureError):  # CaptureError: git itself (GitError)
            remove_worktree(toplevel(settings.project_dir), code)
    trash = base.with_name(f".{base.name}.deleting")
    try:
        base.rename(trash)
        subprocess.Popen(  # deleting a venv costs seconds of file-system work nobody needs to wait for
            ["rm", "-rf", "--", str(trash)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        shutil.rmtree(trash if trash.exists() else base, ignore_errors=True)


def _seconds(started: str | None, ended: str | None) -> float | None:
    if not started or not ended:
        return None
    try:
        return round((datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds(), 3)
    except ValueError:
        return None
