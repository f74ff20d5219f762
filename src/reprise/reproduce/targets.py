"""Reproduce any target: a run, a model version (by number or alias), a unified version, a data version.

* ``run:<id>``, a bare run id or ``runs:/<id>``: :func:`reprise.reproduce.replay.reproduce_run` (a nested run is
  re-run through its nearest captured ancestor and judged on its own metrics and predictions).
* ``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` (or ``model:...``): the run that produced the version, with the
  verdict recorded against the model version too, so ``reprise lineage show model:NAME/3`` shows it.
* ``version:NAME``: every run of the unified version (and its model's run), a verdict per component and an overall
  verdict: the worst of them.
* ``data:NAME``: the version checked out of DVC and every byte verified against its manifest.
* ``release:NAME@VERSION``: the release's unified version, reproduced as above but recorded against the release,
  and the verdict appended to the release's history (a good one makes a draft a candidate for promotion).
Each reproduction is recorded in the metadata store and linked in lineage.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict

from reprise.reproduce.compare import Verdict
from reprise.reproduce.replay import Reproduction, record_reproduction, reproduce_run

if TYPE_CHECKING:
    from reprise.config import Settings

__all__ = ["ComponentVerdict", "TargetReproduction", "reproduce_target"]

#: Worst last: the overall verdict of several components is the worst of theirs.
_SEVERITY: Final = (Verdict.IDENTICAL, Verdict.WITHIN_TOLERANCE, Verdict.UNVERIFIED, Verdict.DIFFERENT, Verdict.FAILED)


class ComponentVerdict(BaseModel):
    """The verdict on one component of a target.

    Attributes:
        ref: The component (``run:<id>``, ``model:clf/3``...).
        verdict: Its verdict.
        headline: One line on it.
        reproduction_id: The recorded reproduction.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ref: str
    verdict: Verdict
    headline: str
    reproduction_id: str | None = None


class TargetReproduction(BaseModel):
    """A target made of several components (a unified version) or of data: a verdict each and an overall one.

    Attributes:
        target: The REF reproduced.
        verdict: The worst of the components' verdicts.
        components: The verdict on each component.
        reproductions: The reproductions of the runs, in the components' order.
        reproduction_id: The recorded overall reproduction.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str
    verdict: Verdict
    components: tuple[ComponentVerdict, ...]
    reproductions: tuple[Reproduction, ...] = ()
    reproduction_id: str

    @property
    def headline(self) -> str:
        """One line: the overall verdict and how many components agree."""
        counts: dict[str, int] = {}
        for component in self.components:
            counts[component.verdict.value] = counts.get(component.verdict.value, 0) + 1
        parts = ", ".join(f"{count} {verdict.replace('_', ' ')}" for verdict, count in sorted(counts.items()))
        return f"{self.target}: {self.verdict.value.replace('_', ' ')} ({parts})"


def reproduce_target(
    target: str, *, settings: Settings | None = None, **options: Any
) -> Reproduction | TargetReproduction:
    """Reproduce ``target`` (see the module's list) and record the verdict.

    Args:
        target: What to reproduce.
        settings: Project settings (default: loaded from the working directory).
        **options: Passed to :func:`reprise.reproduce.replay.reproduce_run` for every run re-run.

    Returns:
        A :class:`Reproduction` for a run or a model version, a :class:`TargetReproduction` for a unified version or
        a data version.

    Raises:
        LineageError: ``target`` is not a REF this command reproduces.
        NotFoundError: It names nothing that exists.
    """
    from reprise.config import load_settings
    from reprise.errors import LineageError
    from reprise.versioning.refs import GRAMMAR, resolve_ref

    settings = settings or load_settings()
    ref = resolve_ref(target, settings=settings)
    kind, _, key = ref.partition(":")
    if kind == "run":
        return reproduce_run(key, settings=settings, **options)
    if kind == "model":
        return reproduce_run(_model_run(settings, ref), settings=settings, verifies=[ref], **options)
    if kind == "version":
        return _version(settings, key, options)
    if kind == "data":
        return _data(settings, key)
    if kind == "release":
        return _release(settings, key, options)
    raise LineageError(
        f"{ref} cannot be reproduced: only runs, model versions, unified versions, data versions and releases can",
        hint=f"give one of: {GRAMMAR}",
    )


def _model_run(settings: Settings, ref: str) -> str:
    from reprise.errors import NotFoundError
    from reprise.registry.resolve import describe_version

    name, _, number = ref.removeprefix("model:").rpartition("/")
    described = describe_version(settings, name, int(number))
    if not described.run_id:
        raise NotFoundError(
            f"{ref} was registered from no run (or its run was deleted): there is nothing to re-run",
            hint="register model versions from captured runs (reprise registry register RUN_ID)",
        )
    return described.run_id


def _release(settings: Settings, key: str, options: dict[str, Any]) -> TargetReproduction:
    from reprise.versioning.releases import get_release, record_verification

    release = get_release(key, settings=settings)
    result = _version(settings, release.unified_version, options, target=release.ref)
    record_verification(
        release.ref,
        verdict=result.verdict.value,
        reproduction_id=result.reproduction_id,
        headline=result.headline,
        settings=settings,
    )
    return result


def _version(
    settings: Settings, name: str, options: dict[str, Any], *, target: str | None = None
) -> TargetReproduction:
    from reprise.versioning.unified import get_version

    started = time.perf_counter()
    version = get_version(name, settings=settings)
    plan: dict[str, list[str]] = {run.run_id: [] for run in version.runs}
    if version.model is not None and version.model.run_id:
        plan.setdefault(version.model.run_id, []).append(f"model:{version.model.name}/{version.model.version}")
    components: list[ComponentVerdict] = []
    reproductions: list[Reproduction] = []
    for run_id, verifies in plan.items():
        result = reproduce_run(run_id, settings=settings, verifies=verifies, **options)
        reproductions.append(result)
        components.append(
            ComponentVerdict(
                ref=verifies[0] if verifies else f"run:{run_id}",
                verdict=result.verdict,
                headline=result.headline,
                reproduction_id=result.parent_run_id,
            )
        )
    seconds = time.perf_counter() - started
    return _recorded(settings, target or f"version:{name}", components, seconds, tuple(reproductions))


def _data(settings: Settings, name: str) -> TargetReproduction:
    from reprise.data.versions import checkout_data, verify_data

    started = time.perf_counter()
    checkout_data(name, settings=settings)
    components = []
    for check in verify_data(name, rehash=True, settings=settings):
        validation = check.validation
        headline = (
            f"{check.file_path}: every byte as versioned"
            if check.ok
            else f"{check.file_path}: {len(validation.mismatched)} changed, {len(validation.missing)} missing, "
            f"{len(validation.extra)} extra"
        )
        verdict = Verdict.IDENTICAL if check.ok else Verdict.DIFFERENT
        components.append(ComponentVerdict(ref=f"data:{check.name}", verdict=verdict, headline=headline))
    return _recorded(settings, f"data:{name}", components, time.perf_counter() - started)


def _recorded(
    settings: Settings,
    target: str,
    components: list[ComponentVerdict],
    seconds: float,
    reproductions: tuple[Reproduction, ...] = (),
) -> TargetReproduction:
    verdict = max((c.verdict for c in components), key=_SEVERITY.index, default=Verdict.UNVERIFIED)
    result = TargetReproduction(
        target=target,
        verdict=verdict,
        components=tuple(components),
        reproductions=reproductions,
        reproduction_id=uuid.uuid4().hex,
    )
    record_reproduction(
        settings,
        reproduction_id=result.reproduction_id,
        target=target,
        verdict=verdict.value,
        causes=[
            {"kind": component.ref, "title": component.headline}
            for component in components
            if component.verdict is not Verdict.IDENTICAL
        ],
        details={"headline": result.headline, "components": [c.model_dump(mode="json") for c in components]},
        report_path=None,
        seconds=seconds,
        verifies=[c.ref for c in components if c.ref != target],
    )
    return result
