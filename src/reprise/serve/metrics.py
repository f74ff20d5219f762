"""Service metrics in the Prometheus text exposition format (version 0.0.4), written without a client library.

Counters and histograms are updated from the event loop only (the middleware, the batcher's completion callbacks,
the reload loop), so they need no lock.

Example:
    >>> metrics = ServiceMetrics()
    >>> metrics.observe_request("/health", "GET", 200, 0.001)
    >>> "reprise_http_requests_total" in metrics.render()
    True
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

    from reprise.tracking.serving import ServedVersion

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "Histogram", "ServiceMetrics"]

#: The media type Prometheus scrapes.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
#: Request latency buckets, in seconds.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Rows per model call.
_BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)

Labels = tuple[tuple[str, str], ...]


@dataclass
class Histogram:
    """One labelled histogram series: cumulative bucket counts, sum and count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        """Add one observation."""
        index = bisect.bisect_left(self.bounds, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += value
        self.count += 1


class ServiceMetrics:
    """Request counts and latencies per endpoint, model calls and batch sizes, reloads and the version served."""

    def __init__(self) -> None:
        self._requests: dict[Labels, int] = {}
        self._latency: dict[Labels, Histogram] = {}
        self._predictions: dict[Labels, int] = {}
        self._batch_rows = Histogram(tuple(float(bound) for bound in _BATCH_BUCKETS))
        self._model_seconds = Histogram(LATENCY_BUCKETS)
        self._model_errors = 0
        self._reloads: dict[Labels, int] = {}
        self._served: ServedVersion | None = None

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request and its latency."""
        key = (("endpoint", endpoint), ("method", method), ("status", str(status)))
        self._requests[key] = self._requests.get(key, 0) + 1
        series = (("endpoint", endpoint), ("method", method))
        histogram = self._latency.get(series)
        if histogram is None:
            histogram = self._latency[series] = Histogram(LATENCY_BUCKETS)
        histogram.observe(seconds)

    def observe_model_call(self, rows: int, seconds: float, version: int, *, failed: bool = False) -> None:
        """Count one model call: its rows, its duration, and the version that answered."""
        self._batch_rows.observe(float(rows))
        self._model_seconds.observe(seconds)
        if failed:
            self._model_errors += 1
            return
        key = (("version", str(version)),)
        self._predictions[key] = self._predictions.get(key, 0) + rows

    def observe_reload(self, result: str) -> None:
        """Count one attempt to load a version: ``success`` or ``failure``."""
        key = (("result", result),)
        self._reloads[key] = self._reloads.get(key, 0) + 1

    def set_served(self, version: ServedVersion) -> None:
        """Record the version now answering."""
        self._served = version

    def render(self) -> str:
        """Everything, in the Prometheus text format."""
        lines: list[str] = []
        _counter(
            lines, "reprise_http_requests_total", "HTTP requests answered, by endpoint and status.", self._requests
        )
        _histograms(lines, "reprise_http_request_duration_seconds", "HTTP request latency, by endpoint.", self._latency)
        _counter(lines, "reprise_predictions_total", "Rows predicted, by model version.", self._predictions)
        _histograms(lines, "reprise_model_batch_rows", "Rows per model call.", {(): self._batch_rows})
        _histograms(lines, "reprise_model_call_seconds", "Duration of one model call.", {(): self._model_seconds})
        _counter(lines, "reprise_model_call_errors_total", "Model calls that raised.", {(): self._model_errors})
        _counter(lines, "reprise_model_loads_total", "Model loads, by result.", self._reloads)
        served = self._served
        if served is not None:
            ref = (("name", served.name), ("alias", served.alias or ""))
            _gauge(lines, "reprise_model_version", "Version of the model answering.", {ref: float(served.version)})
            info = (*ref, ("version", str(served.version)), ("run_id", served.run_id or ""))
            _gauge(lines, "reprise_model_info", "The model answering (value is always 1).", {info: 1.0})
        return "\n".join(lines) + "\n"


def _counter(lines: list[str], name: str, text: str, series: dict[Labels, int]) -> None:
    lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
    lines += [f"{name}{_labels(labels)} {value}" for labels, value in sorted(series.items())]


def _gauge(lines: list[str], name: str, text: str, series: dict[Labels, float]) -> None:
    lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge"]
    lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in sorted(series.items())]


def _histograms(lines: list[str], name: str, text: str, series: dict[Labels, Histogram]) -> None:
    lines += [f"# HELP {name} {text}", f"# TYPE {name} histogram"]
    for labels, histogram in sorted(series.items()):
        running = 0
        for bound, count in zip(histogram.bounds, histogram.counts, strict=True):
            running += count
            lines.append(f"{name}_bucket{_labels((*labels, ('le', _number(bound))))} {running}")
        lines.append(f"{name}_bucket{_labels((*labels, ('le', '+Inf')))} {histogram.count}")
        lines.append(f"{name}_sum{_labels(labels)} {_number(histogram.total)}")
        lines.append(f"{name}_count{_labels(labels)} {histogram.count}")


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{key}="{_escape(value)}"' for key, value in labels)
    return f"{{{body}}}" if body else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))
