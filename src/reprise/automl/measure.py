"""Measured, not estimated: the size and single-row latency of the artifact that would ship.

Size is the bytes of the folder ``reprise.log_model`` would log (MLmodel, requirements, input example, the skops
file): what the registry would hold and a device would download. Latency is timed on that folder loaded the way
``reprise serve`` loads a registered version (:func:`reprise.tracking.serving.load_servable_folder`: the same
format check, the same pyfunc, the same row-to-frame path), one row per call, rows drawn with a seed from the
searched data, after a warm-up, with BLAS/OpenMP threads pinned to the environment's count. A model whose median is
already twice its limit after a few dozen rows is clearly over it: timing stops there (``stopped_early``), and the
figures measured so far are reported.

Timing is the one thing in a search that is not a pure function of its inputs: the host (and its load) is recorded
with every figure, and the figures stay out of every digest.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from reprise.seeding import derive_seed

if TYPE_CHECKING:
    from reprise.automl.evaluate import SearchData
    from reprise.automl.presets import Constraints

__all__ = ["Measurement", "folder_bytes", "host_facts", "measure_folder", "measure_model"]

#: Timing is checked for a clear overrun every this many rows.
_CHECK_EVERY: Final = 25
#: "Clearly over": the median so far is this many times the limit.
_CLEARLY_OVER: Final = 2.0
#: Files MLflow writes beside a logged model for itself; a registered version's files do not include them.
_BOOKKEEPING: Final = frozenset({"registered_model_meta"})


@dataclass(frozen=True)
class Measurement:
    """The figures of one artifact.

    Attributes:
        size_bytes: Bytes of the artifact folder.
        latency_p50_ms: Median single-row latency.
        latency_p95_ms: 95th percentile.
        latency_p99_ms: 99th percentile.
        rows_timed: Single-row predictions timed (fewer than asked when stopped early).
        stopped_early: Timing stopped because the model was clearly over its latency limit.
        interpretability: ``glass_box``, ``explainable`` or ``opaque``.
        model_format: How the artifact stores the model (``skops``...), as ``reprise serve`` reads it.
        threads: Threads pinned while timing.
        host: Where it was measured (name, CPU, cores, load): figures are only comparable on one host.
    """

    size_bytes: int
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    rows_timed: int
    stopped_early: bool
    interpretability: str
    model_format: str
    threads: int
    host: dict[str, Any] = field(default_factory=dict)

    @property
    def size_mb(self) -> float:
        """Size in MB (10**6 bytes)."""
        return self.size_bytes / 1e6

    def metrics(self) -> dict[str, float]:
        """The figures as MLflow metrics."""
        return {
            "size_bytes": float(self.size_bytes),
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "latency_rows_timed": float(self.rows_timed),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def measure_model(
    model: Any,
    interpretability: str,
    data: SearchData,
    constraints: Constraints,
    seed: int,
    *,
    predictions: Any = None,
) -> Measurement:
    """Save ``model`` as ``reprise.log_model`` would log it, then measure that folder (see :func:`measure_folder`).

    ``model`` is a fitted pipeline or its ONNX graph; for a graph, ``predictions`` are its answers to the input
    example (the first five searched rows), for the signature.
    """
    from reprise.tracking.models import save_model

    example = data.features.iloc[data.train[:5]]
    with tempfile.TemporaryDirectory(prefix="reprise-automl-") as tmp:
        local = Path(tmp) / "model"
        save_model(model, example, local, predictions=predictions, threads=constraints.threads)
        return measure_folder(local, interpretability, data, constraints, seed)


def measure_folder(
    local: Path, interpretability: str, data: SearchData, constraints: Constraints, seed: int
) -> Measurement:
    """Measure the artifact folder ``local``: its bytes, and single-row latency as ``reprise serve`` answers.

    Args:
        local: A model folder (``MLmodel`` and files), as saved or as downloaded from a run.
        interpretability: The model family's class, recorded with the figures.
        data: The search's data: latency rows are drawn from its searched (non-test) rows.
        constraints: Threads, warm-up and timed rows, and the latency limit for the early stop.
        seed: Seeds the choice of rows.

    Raises:
        RegistryError: The folder cannot be loaded the way ``reprise serve`` loads a model.
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    from reprise.tracking.serving import load_servable_folder

    size = folder_bytes(local)
    rng = np.random.default_rng(derive_seed(seed, "latency-rows"))
    count = constraints.warmup_rows + constraints.latency_rows
    picked = rng.choice(data.train, size=count, replace=True)
    rows = data.features.iloc[picked].to_dict(orient="records")
    limit = constraints.max_latency_ms
    timings: list[float] = []
    stopped = False
    with threadpool_limits(limits=constraints.threads):
        servable = load_servable_folder(str(local), "candidate model", warm_up=True)
        for row in rows[: constraints.warmup_rows]:
            servable.predict_rows([row])
        for index, row in enumerate(rows[constraints.warmup_rows :], start=1):
            started = time.perf_counter_ns()
            servable.predict_rows([row])
            timings.append((time.perf_counter_ns() - started) / 1e6)
            if limit is not None and index % _CHECK_EVERY == 0 and np.median(timings) > _CLEARLY_OVER * limit:
                stopped = True
                break
    p50, p95, p99 = (float(value) for value in np.percentile(timings, [50, 95, 99]))
    return Measurement(
        size_bytes=size,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        latency_p99_ms=p99,
        rows_timed=len(timings),
        stopped_early=stopped,
        interpretability=interpretability,
        model_format=servable.spec.model_format,
        threads=constraints.threads,
        host=host_facts(),
    )


def folder_bytes(folder: Path) -> int:
    """Total bytes of the model's files under ``folder`` (MLflow's own bookkeeping left out)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and path.name not in _BOOKKEEPING)


def host_facts() -> dict[str, Any]:
    """The machine the figures were measured on, and how busy it was (1-minute load average)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "hostname": platform.node(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_1m": load,
    }
