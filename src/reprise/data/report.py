"""The data diff as one self-contained HTML page: tables of what changed and a plot per drifted column.

Plots are drawn with matplotlib's Agg canvas (no pyplot, so the caller's backend is untouched) and inlined as base64
PNG: the page needs no network and no other file.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING

from reprise._canonical import write_atomic

if TYPE_CHECKING:
    from pathlib import Path

    from reprise.data.diff import DataDiff
    from reprise.data.profile import ColumnDrift, TableDiff

__all__ = ["render_html", "write_html"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}.drift{color:#b00020;
font-weight:600}.ok{color:#1b5e20}img{max-width:100%;border:1px solid #eee;margin:.5em 0}code{background:#f6f6f6}
"""


def write_html(diff: DataDiff, path: Path) -> Path:
    """Write the diff as a self-contained HTML page.

    Args:
        diff: From :func:`reprise.data.diff.diff_data`.
        path: The file to write.

    Returns:
        The path written.
    """
    write_atomic(path, render_html(diff))
    return path


def render_html(diff: DataDiff) -> str:
    """The diff as a self-contained HTML page.

    Args:
        diff: From :func:`reprise.data.diff.diff_data`.

    Returns:
        The HTML text.
    """
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>reprise data diff {e(diff.a)} → {e(diff.b)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Data diff: <code>{e(diff.a)}</code> → <code>{e(diff.b)}</code></h1>",
        f"<p>Drift thresholds: PSI &gt; {diff.thresholds.psi}, KS &gt; {diff.thresholds.ks}. "
        f"{len(diff.drifted)} drifted column(s).</p>",
        "<h2>Files</h2><table><tr><th>change</th><th>file</th></tr>",
    ]
    for label, paths in (("added", diff.files.added), ("removed", diff.files.removed), ("changed", diff.files.changed)):
        parts += [f"<tr><td>{label}</td><td>{e(path)}</td></tr>" for path in paths]
    parts.append(f"</table><p>{diff.files.unchanged} file(s) unchanged.</p>")
    for table in diff.tables:
        parts.append(_table_section(table))
    parts.append("</body></html>")
    return "\n".join(parts)


def _table_section(table: TableDiff) -> str:
    e = html.escape
    parts = [
        f"<h2>{e(table.path)}</h2>",
        f"<p>rows: {table.rows_a} → {table.rows_b}; columns added: {e(', '.join(table.columns_added) or '-')}; "
        f"removed: {e(', '.join(table.columns_removed) or '-')}; retyped: "
        f"{e(', '.join(f'{c.column} ({c.a} → {c.b})' for c in table.columns_retyped) or '-')}</p>",
        "<table><tr><th>column</th><th>kind</th><th>PSI</th><th>KS</th><th>new / vanished categories</th>"
        "<th>nulls</th><th>drift</th></tr>",
    ]
    for item in table.drift:
        flag = "<span class='drift'>drifted</span>" if item.drifted else "<span class='ok'>ok</span>"
        categories = (
            f"{len(item.new_categories)} / {len(item.vanished_categories)}" if item.kind == "categorical" else ""
        )
        ks = "" if item.ks is None else f"{item.ks:.3f}"
        parts.append(
            f"<tr><td>{e(item.column)}</td><td>{item.kind}</td><td>{item.psi:.3f}</td><td>{ks}</td>"
            f"<td>{categories}</td><td>{item.null_fraction_a:.1%} → {item.null_fraction_b:.1%}</td><td>{flag}</td></tr>"
        )
    parts.append("</table>")
    for item in table.drift:
        if item.drifted and item.distribution.labels:
            parts.append(
                f"<h3>{e(item.column)}</h3><img alt='{e(item.column)}' src='data:image/png;base64,{_plot(item)}'>"
            )
    return "\n".join(parts)


def _plot(item: ColumnDrift) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3), dpi=96)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    dist = item.distribution
    if dist.edges is not None:
        axes.stairs(dist.a, dist.edges, label="A", linewidth=2)
        axes.stairs(dist.b, dist.edges, label="B", linewidth=2)
        axes.set_xlabel(item.column)
    else:
        shown = min(len(dist.labels), 20)
        positions = range(shown)
        axes.bar([p - 0.2 for p in positions], dist.a[:shown], width=0.4, label="A")
        axes.bar([p + 0.2 for p in positions], dist.b[:shown], width=0.4, label="B")
        axes.set_xticks(list(positions), [label[:14] for label in dist.labels[:shown]], rotation=45, ha="right")
    axes.set_ylabel("share")
    ks = "" if item.ks is None else f", KS {item.ks:.3f}"
    axes.set_title(f"{item.column}: PSI {item.psi:.3f}{ks}")
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
