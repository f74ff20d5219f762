"""The pieces of a self-contained HTML report: page, tables, inline SVG plots. No script, no network, no fonts.

The page carries a Content-Security-Policy that forbids every fetch, so it renders the same offline, in a CI
artifact viewer or attached to an MLflow run.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["fmt", "page", "residual_svg", "scatter_svg", "section", "table"]

_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_COLORS: Final = {
    "good": "#1a7f37",
    "close": "#3b7dd8",
    "bad": "#cf4a0e",
    "failed": "#b42318",
    "unknown": "#6e7781",
}
_STYLE: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:0 24px 48px}
header{color:#fff;padding:24px;margin:0 0 24px}
header .badge{display:inline-block;font-weight:700;letter-spacing:.08em;border:2px solid #fff;border-radius:6px;
 padding:4px 10px;font-size:18px}
header h1{font-size:22px;margin:12px 0 6px}
header p{margin:2px 0;opacity:.92}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin:0 0 18px}
h2{font-size:17px;margin:0 0 10px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
td.num{text-align:right;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}
.s-identical,.s-equivalent,.s-yes{color:#1a7f37;font-weight:600}
.s-within_tolerance{color:#3b7dd8;font-weight:600}
.s-different,.s-missing,.s-added,.s-no{color:#cf4a0e;font-weight:600}
ol.causes>li{margin:0 0 12px}
.likelihood{color:#57606a;font-size:12px;margin-left:6px}
ul.evidence{margin:4px 0 0;padding-left:18px;color:#424a53;font-family:ui-monospace,Menlo,monospace;font-size:12.5px}
pre{background:#0d1117;color:#e6edf3;padding:12px;border-radius:6px;overflow-x:auto;font-size:12px}
.plots{display:flex;flex-wrap:wrap;gap:16px}
.muted{color:#57606a}
"""


def page(title: str, tone: str, badge: str, headline: str, meta: Sequence[str], sections: Sequence[str]) -> str:
    """A whole HTML document: a coloured verdict header, then the sections.

    Args:
        title: The document title.
        tone: ``good``, ``close``, ``bad`` or ``failed`` (the header colour).
        badge: The verdict word.
        headline: One line under it.
        meta: Lines of run ids, modes, times.
        sections: HTML fragments made with :func:`section`.
    """
    lines = "".join(f"<p>{html.escape(line)}</p>" for line in meta)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header id="verdict" style="background:{_COLORS.get(tone, _COLORS["bad"])}">'
        f'<span class="badge">{html.escape(badge)}</span><h1>{html.escape(headline)}</h1>{lines}</header>'
        f"<main>{''.join(sections)}</main></body></html>\n"
    )


def section(anchor: str, heading: str, body: str) -> str:
    """A titled section; ``body`` is HTML."""
    return f'<section id="{html.escape(anchor)}"><h2>{html.escape(heading)}</h2>{body}</section>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str | tuple[str, str]]]) -> str:
    """A table; a cell is text, or ``(text, css class)``. Text is escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            text, css = cell if isinstance(cell, tuple) else (cell, "")
            cells.append(f'<td class="{css}">{html.escape(text)}</td>' if css else f"<td>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not rows:
        return '<p class="muted">none</p>'
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    return f"<table>{thead}<tbody>{''.join(body)}</tbody></table>"


def fmt(value: float | None) -> str:
    """A number at full precision (``repr``), or a dash."""
    if value is None:
        return "—"
    return repr(float(value)) if isinstance(value, float) else str(value)


def scatter_svg(pairs: Sequence[tuple[float, float]], x_label: str = "original", y_label: str = "reproduced") -> str:
    """Original vs reproduced as points, with the ``y = x`` line every point sits on when they agree."""
    if not pairs:
        return '<p class="muted">no prediction values to plot</p>'
    low = min(min(x, y) for x, y in pairs)
    high = max(max(x, y) for x, y in pairs)
    return _plot(pairs, (low, high), (low, high), x_label, y_label, diagonal=True, title="predictions")


def residual_svg(pairs: Sequence[tuple[float, float]]) -> str:
    """Reproduced minus original, per sampled prediction (flat at zero when they agree)."""
    if not pairs:
        return ""
    points = [(float(index), y - x) for index, (x, y) in enumerate(pairs)]
    low, high = min(p[1] for p in points), max(p[1] for p in points)
    if low == high:
        low, high = low - 1.0, high + 1.0
    return _plot(
        points, (0.0, max(len(points) - 1, 1)), (low, high), "sample", "reproduced - original", False, "residuals"
    )


def _plot(
    points: Sequence[tuple[float, float]],
    xs: tuple[float, float],
    ys: tuple[float, float],
    x_label: str,
    y_label: str,
    diagonal: bool,
    title: str,
) -> str:
    width, height, pad = 440, 320, 48
    (x0, x1), (y0, y1) = _span(xs), _span(ys)

    def px(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (width - 2 * pad)

    def py(y: float) -> float:
        return height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad)

    dots = "".join(
        f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.4"/>'
        for x, y in points
        if math.isfinite(x) and math.isfinite(y)
    )
    dash = 'stroke="#cf4a0e" stroke-dasharray="4 3"'
    line = ""
    if diagonal:
        line = f'<line x1="{px(x0):.1f}" y1="{py(x0):.1f}" x2="{px(x1):.1f}" y2="{py(x1):.1f}" {dash}/>'
    elif y0 <= 0.0 <= y1:
        line = f'<line x1="{pad}" y1="{py(0.0):.1f}" x2="{width - pad}" y2="{py(0.0):.1f}" {dash}/>'
    small, end = 'font-size="10"', 'text-anchor="end"'
    ticks = (
        f'<text x="{pad}" y="{height - pad + 16}" {small}>{html.escape(_tick(x0))}</text>'
        f'<text x="{width - pad}" y="{height - pad + 16}" {small} {end}>{html.escape(_tick(x1))}</text>'
        f'<text x="{pad - 4}" y="{height - pad}" {small} {end}>{html.escape(_tick(y0))}</text>'
        f'<text x="{pad - 4}" y="{pad + 4}" {small} {end}>{html.escape(_tick(y1))}</text>'
    )
    frame = f'x="{pad}" y="{pad}" width="{width - 2 * pad}" height="{height - 2 * pad}"'
    middle = 'text-anchor="middle"'
    return (
        f'<svg class="plot" role="img" aria-label="{html.escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<rect {frame} fill="#fafbfc" stroke="#d0d7de"/>'
        f'{line}<g fill="#3b7dd8" fill-opacity="0.75">{dots}</g>{ticks}'
        f'<text x="{width / 2}" y="{height - 10}" font-size="12" {middle}>{html.escape(x_label)}</text>'
        f'<text x="14" y="{height / 2}" font-size="12" {middle} transform="rotate(-90 14 {height / 2})">'
        f"{html.escape(y_label)}</text>"
        f'<text x="{width / 2}" y="20" font-size="13" font-weight="600" {middle}>{html.escape(title)}</text>'
        "</svg>"
    )


def _span(bounds: tuple[float, float]) -> tuple[float, float]:
    low, high = bounds
    if not (math.isfinite(low) and math.isfinite(high)):
        return 0.0, 1.0
    if low == high:
        return low - 0.5, high + 0.5
    margin = (high - low) * 0.05
    return low - margin, high + margin


def _tick(value: float) -> str:
    return f"{value:.4g}"
