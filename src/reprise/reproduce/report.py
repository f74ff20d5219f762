"""Reports of a reproduction, a validation or an audit: JSON for machines, one self-contained HTML page for people.

The page puts the verdict first, then the metric table with deltas, the predictions (original vs reproduced, and the
residuals), the outputs, the causes with their evidence, the environment and its differences. It needs no network:
no script, no external style, font or image, and a Content-Security-Policy that forbids fetching any.

Example:
    >>> write_report(result, json_path=Path("repro.json"), html_path=Path("repro.html"))   # doctest: +SKIP
    [PosixPath('repro.json'), PosixPath('repro.html')]
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from reprise._canonical import write_atomic
from reprise.reproduce._html import fmt, page, residual_svg, scatter_svg, section, table
from reprise.reproduce.explain import is_incidental

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic import BaseModel

    from reprise.capture.environment import EnvironmentDiff
    from reprise.reproduce.audit import AuditReport
    from reprise.reproduce.compare import MetricDelta, OutputDelta, PredictionDelta, StdoutDelta
    from reprise.reproduce.explain import Explanation
    from reprise.reproduce.replay import Reproduction
    from reprise.reproduce.validate import ValidationReport

__all__ = ["render_html", "to_json", "write_report"]

Cell = str | tuple[str, str]
_TONES = {
    "identical": "good",
    "within_tolerance": "close",
    "different": "bad",
    "failed": "failed",
    "unverified": "unknown",
}
_OK = frozenset({"identical", "within_tolerance", "equivalent"})


def to_json(result: BaseModel) -> str:
    """The result as indented JSON with sorted keys, plus ``kind`` (reproduction, validation or audit)."""
    data: dict[str, Any] = {"kind": _kind(result), **result.model_dump(mode="json")}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def render_html(result: BaseModel) -> str:
    """The result as one self-contained HTML page.

    Args:
        result: A :class:`~reprise.reproduce.replay.Reproduction`, a
            :class:`~reprise.reproduce.validate.ValidationReport` or an :class:`~reprise.reproduce.audit.AuditReport`.

    Raises:
        TypeError: Anything else.
    """
    kind = _kind(result)
    if kind == "reproduction":
        return _reproduction(result)  # type: ignore[arg-type]
    if kind == "validation":
        return _validation(result)  # type: ignore[arg-type]
    return _audit(result)  # type: ignore[arg-type]


def write_report(result: BaseModel, *, json_path: Path | None = None, html_path: Path | None = None) -> list[Path]:
    """Write the JSON and/or HTML report, each atomically.

    Returns:
        The paths written.
    """
    written = []
    if json_path is not None:
        write_atomic(json_path, to_json(result))
        written.append(json_path)
    if html_path is not None:
        write_atomic(html_path, render_html(result))
        written.append(html_path)
    return written


def _kind(result: BaseModel) -> str:
    from reprise.reproduce.audit import AuditReport
    from reprise.reproduce.replay import Reproduction
    from reprise.reproduce.validate import ValidationReport

    for kind, cls in (("reproduction", Reproduction), ("validation", ValidationReport), ("audit", AuditReport)):
        if isinstance(result, cls):
            return kind
    raise TypeError(f"no report for {type(result).__name__}")


def _reproduction(result: Reproduction) -> str:
    comparison = result.comparison
    patch = "; recorded patch applied" if result.patch_applied else ""
    meta = [
        f"original run {result.original_run_id} → reproduction run {result.reproduction_run_id}",
        f"mode: {result.mode}; commit {(result.commit or '?')[:12]}{patch}",
        f"tolerance: atol {comparison.tolerance.atol:g}, rtol {comparison.tolerance.rtol:g}",
        f"compared: {comparison.evidence_summary}",
    ]
    if result.what_if:
        meta.append(f"what-if: {', '.join(result.what_if)} instead of the recorded values")
    if result.original_seconds:
        meta.append(f"original run {result.original_seconds:.1f} s; reproduction {result.timings.total:.1f} s")
    sections = [
        section("metrics", "Metrics", _metric_table(comparison.metrics)),
        _predictions(comparison.predictions),
        section("outputs", "Outputs", _output_table(comparison.outputs)),
        section("printed", "Printed numbers", _printed(comparison.stdout)),
        section("causes", "Causes, most likely first", _causes(result.explanation)),
        section("environment", "Environment", _environment(result) + _env_diff(result.environment_diff)),
        section("data", "Data", _data(result)),
        section("timings", "Timings (s)", _timings(result)),
    ]
    verdict = comparison.verdict.value
    if result.log_tail and verdict == "failed":
        sections.insert(1, section("log", "Last lines of the re-run", _pre(result.log_tail)))
    badge = verdict.replace("_", " ").upper() + (" · NONDETERMINISTIC" if result.nondeterministic else "")
    title = f"Reprise reproduction of {result.original_run_id}: {verdict}"
    return page(title, _TONES[verdict], badge, result.headline, meta, sections)


def _printed(stdout: StdoutDelta | None) -> str:
    if stdout is None:
        return '<p class="muted">no number printed on both sides (or the output was not kept)</p>'
    row: list[Cell] = [fmt(stdout.lines), fmt(stdout.numbers), _num(stdout.max_abs_diff), _status(stdout.status)]
    detail = f"<p>{_escape(stdout.detail)}</p>" if stdout.detail else ""
    return table(["lines compared", "numbers compared", "max |Δ|", "status"], [row]) + detail


def _validation(report: ValidationReport) -> str:
    meta = [
        f"run {report.run_id} against {report.reference}",
        f"tolerance: atol {report.tolerance.atol:g}, rtol {report.tolerance.rtol:g}",
    ]
    sections = [
        section("metrics", "Metrics", _metric_table(report.metrics, reference=True)),
        _predictions(report.predictions),
    ]
    if report.failures:
        sections.insert(0, section("failures", "Outside tolerance", _list(report.failures)))
    if report.passed:
        headline = "every metric and prediction within tolerance"
    else:
        headline = f"{len(report.failures)} outside tolerance"
    tone, badge = ("good", "PASSED") if report.passed else ("bad", "FAILED")
    return page(f"Reprise validation of {report.run_id}", tone, badge, headline, meta, sections)


def _audit(report: AuditReport) -> str:
    output_rows: list[list[Cell]] = [
        [o.path, o.stage or "—", _yes(o.consistent), " / ".join((h or "absent")[:12] for h in o.sha256), o.detail or ""]
        for o in report.outputs
    ]
    metric_rows: list[list[Cell]] = [
        [m.name, m.stage or "—", _yes(m.consistent), " / ".join(fmt(v) for v in m.values), _num(m.max_abs_delta)]
        for m in report.metrics
    ]
    sections = [
        section(
            "outputs", "Outputs", table(["output", "stage", "same every run?", "sha256 per run", "how"], output_rows)
        ),
        section("metrics", "Metrics", table(["metric", "stage", "same every run?", "values", "max |Δ|"], metric_rows)),
    ]
    if report.hints:
        sections.append(section("hints", "Suspects in the code", _list(report.hints)))
    meta = [f"{report.mode}: {report.target}", f"{report.runs} runs in {report.seconds:.1f} s"]
    badges = {"clean": ("good", "CLEAN"), "unverified": ("unknown", "UNVERIFIED")}
    tone, badge = badges.get(report.verdict, ("bad", "NONDETERMINISTIC"))
    return page(f"Reprise audit of {report.target}", tone, badge, report.headline, meta, sections)


def _metric_table(metrics: tuple[MetricDelta, ...], *, reference: bool = False) -> str:
    first, second = ("reference", "current") if reference else ("original", "reproduced")
    rows: list[list[Cell]] = [
        [m.name, _num(m.original), _num(m.reproduced), _num(m.delta), _yes(m.status in _OK), _status(m.status)]
        for m in metrics
    ]
    return table(["metric", first, second, "delta", "within tolerance?", "status"], rows)


def _output_table(outputs: tuple[OutputDelta, ...]) -> str:
    rows: list[list[Cell]] = [
        [o.path, _status(o.status), _sha(o.original_sha256), _sha(o.reproduced_sha256), o.detail or ""] for o in outputs
    ]
    return table(["file", "status", "original sha256", "reproduced sha256", "detail"], rows)


def _predictions(delta: PredictionDelta | None) -> str:
    if delta is None:
        return section("predictions", "Predictions", '<p class="muted">no predictions logged on either side</p>')
    prints = f"{_sha(delta.original.sha256 if delta.original else None)} / "
    prints += _sha(delta.reproduced.sha256 if delta.reproduced else None)
    row: list[Cell] = [
        _status(delta.status),
        fmt(delta.n_total),
        fmt(delta.n_different),
        _num(delta.max_abs_diff),
        _num(delta.max_rel_diff),
        prints,
    ]
    headers = ["status", "values compared", "values differing", "max |Δ|", "max relative Δ", "fingerprints"]
    plots = f'<div class="plots">{scatter_svg(delta.sample)}{residual_svg(delta.sample)}</div>'
    detail = f"<p>{_escape(delta.detail)}</p>" if delta.detail else ""
    return section("predictions", "Predictions: original vs reproduced", table(headers, [row]) + detail + plots)


def _causes(explanation: Explanation) -> str:
    if not explanation.causes:
        return f'<p class="muted">{_escape(explanation.summary or "no cause: the results do not differ")}</p>'
    items = []
    for cause in explanation.causes:
        evidence = "".join(f"<li>{_escape(line)}</li>" for line in cause.evidence)
        weight = f'<span class="likelihood">{cause.kind}, weight {cause.likelihood:.2f}</span>'
        items.append(f'<li><b>{_escape(cause.title)}</b>{weight}<ul class="evidence">{evidence}</ul></li>')
    summary = f"<p>{_escape(explanation.summary)}</p>" if explanation.summary else ""
    return f'{summary}<ol class="causes">{"".join(items)}</ol>'


def _environment(result: Reproduction) -> str:
    env = result.environment
    source = "offline, from the uv cache" if env.offline else "from the index"
    rows: list[list[Cell]] = [
        ["mode", env.mode],
        ["Python", f"{env.python_version} (recorded {env.python_requested}) at {env.python}"],
        ["pins installed", f"{env.pins} ({source})" if env.mode == "isolated" else "none (current interpreter)"],
    ]
    rows += [["override", line] for line in env.overrides]
    rows += [["local install", line] for line in env.local_installs]
    rows += [["note", line] for line in env.notes]
    return table(["", ""], rows)


def _env_diff(diff: EnvironmentDiff | None) -> str:
    if diff is None:
        return ""
    if diff.is_empty:
        return '<p class="muted">no environment differences between the two records</p>'
    rows: list[list[Cell]] = [
        [f"package {c.name}", c.old.requirement(), c.new.requirement()] for c in diff.packages_changed
    ]
    rows += [[f"package {p.name}", p.requirement(), "absent"] for p in diff.packages_removed]
    rows += [[f"package {p.name}", "absent", p.requirement()] for p in diff.packages_added]
    rows = [[*row, "yes"] for row in rows]
    rows += [
        [f.field, str(f.old), str(f.new), "no: where results are logged" if is_incidental(f.field) else "yes"]
        for f in diff.fields
    ]
    headers = ["what", "original", "reproduced", "a possible cause?"]
    return "<h2>Differences between the two records</h2>" + table(headers, rows)


def _data(result: Reproduction) -> str:
    data = result.data
    counts = (data.files, data.in_checkout, data.from_cache, data.from_project, data.pulled)
    row: list[Cell] = [*(str(count) for count in counts), _yes(data.verified)]
    return table(["files", "in git", "DVC cache", "project", "pulled", "verified"], [row])


def _timings(result: Reproduction) -> str:
    timings = result.timings.model_dump()
    row: list[Cell] = [(f"{value:.2f}", "num") for value in timings.values()]
    return table(list(timings), [row])


def _num(value: float | None) -> Cell:
    return (fmt(value), "num")


def _yes(flag: bool) -> Cell:
    return ("yes", "s-yes") if flag else ("no", "s-no")


def _status(status: str) -> Cell:
    return (status, f"s-{status}")


def _sha(value: str | None) -> str:
    return (value or "—")[:12]


def _pre(lines: tuple[str, ...]) -> str:
    return f"<pre>{_escape(chr(10).join(lines))}</pre>"


def _list(lines: tuple[str, ...]) -> str:
    return "<ul>" + "".join(f"<li>{_escape(line)}</li>" for line in lines) + "</ul>"


def _escape(text: str) -> str:
    return html.escape(text)
