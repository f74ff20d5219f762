"""What changed between two releases, component by component.

:func:`diff_releases` compares two releases' components (by digest), the parameters of their runs (captured and
logged, so a model trained in a nested run shows its hyperparameters), the packages of their RunRecords, their model
versions' metrics (with deltas) and gate verdicts, their data versions (paired by path, compared file by file and, for
tables, row by row through :func:`reprise.data.diff.diff_data`) and their last reproduction verdicts.
:meth:`ReleaseDiff.to_html` renders it as one self-contained page (no script, nothing loaded from elsewhere).

Example:
    >>> diff = diff_releases("churn@1.1.0", "churn@1.2.0")   # doctest: +SKIP
    >>> [(p.name, p.a, p.b) for p in diff.params]             # doctest: +SKIP
    [('C', '1.0', '0.01')]
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from reprise.capture.environment import EnvironmentDiff
from reprise.config import load_settings
from reprise.data.diff import DataDiff
from reprise.registry.compare import MetricDelta, ParamDiff, metric_deltas, param_diffs
from reprise.versioning.releases import Release, get_release

if TYPE_CHECKING:
    from reprise.config import Settings

__all__ = ["ComponentChange", "ReleaseDiff", "diff_releases"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ComponentChange(_Frozen):
    """A component that differs: ``ref: digest`` on each side (None: absent there)."""

    kind: str
    a: str | None
    b: str | None


class ReleaseDiff(_Frozen):
    """Everything that differs between release ``a`` and release ``b``.

    Attributes:
        a: The first release's REF.
        b: The second release's REF.
        components: Components whose digest differs, or that only one side has.
        params: Run parameters that differ.
        metrics: Every model metric of either side, with its delta.
        gates: The model versions' gate verdicts (``passed``, ``failed``, ``not_evaluated``...), a then b.
        packages: Packages added, removed and changed between the runs' environments.
        data: Per data version that changed (paired by path): files, and rows for tables.
        reproductions: The last reproduction verdict of each release (None: never reproduced), a then b.
    """

    a: str
    b: str
    components: tuple[ComponentChange, ...]
    params: tuple[ParamDiff, ...]
    metrics: tuple[MetricDelta, ...]
    gates: tuple[str | None, str | None]
    packages: EnvironmentDiff
    data: tuple[DataDiff, ...]
    reproductions: tuple[str | None, str | None]

    def to_html(self) -> str:
        """A standalone HTML page: one table per kind of change."""
        title = html.escape(f"{self.a} -> {self.b}")
        sections = [
            _table("Components", ("component", self.a, self.b), [(c.kind, c.a, c.b) for c in self.components]),
            _table("Parameters", ("parameter", self.a, self.b), [(p.name, p.a, p.b) for p in self.params]),
            _table(
                "Model metrics",
                ("metric", self.a, self.b, "delta"),
                [(m.name, _num(m.a), _num(m.b), _num(m.delta, signed=True)) for m in self.metrics],
            ),
            _table(
                "Gates and reproductions",
                ("", self.a, self.b),
                [("gates", *self.gates), ("reproduction", *self.reproductions)],
            ),
            _table("Packages", ("package", self.a, self.b), _package_rows(self.packages)),
            _table("Data", ("data", "added", "removed", "changed"), _data_rows(self.data)),
        ]
        return (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}"
            "table{border-collapse:collapse;margin-bottom:1.5em}tr:nth-child(even){background:#f4f4f4}</style></head>"
            f"<body><h1>{title}</h1>{''.join(sections)}</body></html>\n"
        )


def diff_releases(a: str, b: str, *, settings: Settings | None = None) -> ReleaseDiff:
    """Compare releases ``a`` and ``b`` (``NAME@VERSION`` each).

    Raises:
        NotFoundError: A release, run record or data version is missing.
        DataError: A changed data version's bytes are not in the local DVC cache.
    """
    from reprise.capture.environment import diff_environments
    from reprise.store.db import open_store
    from reprise.store.reproductions import latest_reproductions
    from reprise.tracking.records import read_record, run_info
    from reprise.versioning.unified import get_version

    settings = settings or load_settings()
    first, second = get_release(a, settings=settings), get_release(b, settings=settings)
    records, params = [], []
    for release in (first, second):
        runs = get_version(release.unified_version, settings=settings).runs
        records.append([read_record(settings, run.captured_run_id) for run in runs])
        # The captured run's parameters, then those of the run itself (a model nested in a captured stage logs its
        # hyperparameters there).
        params.append(
            {
                key: value
                for record, run in zip(records[-1], runs, strict=True)
                for key, value in (record.params | run_info(settings, run.run_id).params).items()
            }
        )
    params_a, params_b = params
    (metrics_a, gate_a), (metrics_b, gate_b) = _model(settings, first), _model(settings, second)
    latest = latest_reproductions(open_store(settings), [first.ref, second.ref])
    return ReleaseDiff(
        a=first.ref,
        b=second.ref,
        components=tuple(_components(first, second)),
        params=param_diffs(params_a, params_b),
        metrics=metric_deltas(metrics_a, metrics_b),
        gates=(gate_a, gate_b),
        packages=diff_environments(records[0][0].environment, records[1][0].environment),
        data=tuple(_data(settings, first, second)),
        reproductions=(_verdict(latest, first.ref), _verdict(latest, second.ref)),
    )


def _components(first: Release, second: Release) -> list[ComponentChange]:
    def keyed(release: Release) -> dict[str, str]:
        # Commit, environment and model pair by kind; data, pipelines, fits and runs by their REF.
        single = ("commit:", "model:", "environment", "patch")
        return {
            (c.ref.split(":")[0] if c.ref.startswith(single) else c.ref): f"{c.ref}: {c.digest}"
            for c in release.components
        }

    a, b = keyed(first), keyed(second)
    return [
        ComponentChange(kind=key, a=a.get(key), b=b.get(key))
        for key in sorted(a.keys() | b.keys())
        if a.get(key) != b.get(key)
    ]


def _model(settings: Settings, release: Release) -> tuple[dict[str, float], str | None]:
    from reprise.registry.catalog import list_versions

    if release.model is None:
        return {}, None
    name, _, number = release.model.removeprefix("model:").rpartition("/")
    info = next((v for v in list_versions(name, settings=settings) if v.version == int(number)), None)
    return ({}, None) if info is None else (dict(info.metrics), info.validation_status)


def _data(settings: Settings, first: Release, second: Release) -> list[DataDiff]:
    from reprise.data.diff import diff_data
    from reprise.store.data_versions import find_data_version
    from reprise.store.db import open_store

    engine = open_store(settings)

    def by_path(release: Release) -> dict[str, str]:
        names = [c.ref.removeprefix("data:") for c in release.components if c.ref.startswith("data:")]
        rows = [find_data_version(engine, name) for name in names]
        return {row.path: row.name for row in rows if row is not None}

    a, b = by_path(first), by_path(second)
    return [
        diff_data(a[path], b[path], settings=settings) for path in sorted(a.keys() & b.keys()) if a[path] != b[path]
    ]


def _verdict(latest: dict[str, Any], ref: str) -> str | None:
    return str(latest[ref].verdict) if ref in latest else None


def _num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:+.6g}" if signed else f"{value:.6g}"


def _package_rows(packages: EnvironmentDiff) -> list[tuple[str, str | None, str | None]]:
    rows: list[tuple[str, str | None, str | None]] = [(p.name, None, p.version) for p in packages.packages_added]
    rows += [(p.name, p.version, None) for p in packages.packages_removed]
    rows += [(c.name, c.old.version, c.new.version) for c in packages.packages_changed]
    return sorted(rows)


def _data_rows(data: tuple[DataDiff, ...]) -> list[tuple[str, str, str, str]]:
    rows = []
    for diff in data:
        tables = {c.path: f"{c.path} (+{c.rows_added} / -{c.rows_removed} rows)" for c in diff.contents}
        changed = [tables.get(path, path) for path in diff.files.changed]
        rows.append(
            (f"{diff.a} -> {diff.b}", ", ".join(diff.files.added), ", ".join(diff.files.removed), ", ".join(changed))
        )
    return rows


def _table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = (
        "".join(
            "<tr>" + "".join(f"<td>{html.escape('' if cell is None else str(cell))}</td>" for cell in row) + "</tr>"
            for row in rows
        )
        or f'<tr><td colspan="{len(header)}">no change</td></tr>'
    )
    return f"<h2>{html.escape(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
