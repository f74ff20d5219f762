"""Fitting and applying feature-pipeline versions: fitted once per data version, applied without refitting.

* :func:`fit_pipeline` fits a version on the table of a data version (checked against its manifest first), once: a
  second call returns the stored fit. The fitted object goes to MLflow in skops' format (never pickle); its sha256
  and the exact types its load must trust are recorded with it.
* :func:`apply_pipeline` downloads the stored fit, refuses it unless its sha256 is the recorded one (before anything
  is deserialised), loads it trusting exactly the recorded types, and only transforms. Refitting on the data being
  transformed is the train/serve skew this exists to prevent: the statistics a scaler learned stay the stored ones.

Lineage: ``pipeline:NAME@VERSION -> fit:ID`` and ``data:DATA_VERSION -> fit:ID`` (``fitted``), and, when a fit is
made or applied inside a run, ``fit:ID -> run:RUN_ID`` (``used``).

Example:
    >>> fit = reprise.fit_pipeline("prep@1.0.0", "train-v1")               # doctest: +SKIP
    >>> features = reprise.apply_pipeline(new_rows, "prep@1.0.0")          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from reprise.config import load_settings
from reprise.errors import DataError, HashMismatchError, MissingExtraError, NotFoundError, VersioningError
from reprise.versioning.pipeline_spec import build_pipeline
from reprise.versioning.pipelines import PipelineFit, current_actor, find_version_row, stored_spec

if TYPE_CHECKING:
    from reprise.config import Settings
    from reprise.store.db import Store as Engine
    from reprise.store.pipelines import PipelineFitRow, PipelineVersionRow

__all__ = ["AppliedTable", "apply_pipeline", "apply_pipeline_to_file", "fit_pipeline"]


class AppliedTable(BaseModel):
    """What :func:`apply_pipeline_to_file` wrote."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    output: str
    pipeline: str
    fit_id: str
    rows: int
    columns: tuple[str, ...]


def fit_pipeline(ref: str, data_version: str, *, settings: Settings | None = None) -> PipelineFit:
    """Fit pipeline version ``ref`` on the table of ``data_version``, once, and store the fitted object in MLflow.

    The data version's file is checked against its manifest first (the bytes fitted on are the version's). A second
    call with the same pipeline version and data version returns the stored fit without fitting again. Inside a run
    (``reprise.start_run``, ``reprise run``, an active MLflow run), the fit is linked to it as used.

    Args:
        ref: ``NAME@VERSION``.
        data_version: The name of a data version of one CSV, TSV or Parquet file.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The fit.

    Raises:
        NotFoundError: The pipeline version or the data version does not exist.
        DataError: The data version is not one table, or the work tree does not hold its bytes.
        VersioningError: The stored spec was altered, or fitting failed.
        TrackingError: MLflow refused the artifact.
        MissingExtraError: scikit-learn or skops is not installed (``reprise[ml]``).

    Example:
        >>> fit = reprise.fit_pipeline("prep@1.0.0", "train-v1")  # doctest: +SKIP
    """
    settings = settings or load_settings()
    from reprise.store.db import open_store
    from reprise.store.pipelines import list_pipeline_fits

    engine = open_store(settings)
    row = find_version_row(engine, ref)
    fits = list_pipeline_fits(engine, row.name, row.version)
    done = next((fit for fit in fits if fit.data_version == data_version), None)
    if done is None:
        done = _fit_and_store(settings, engine, row, data_version)
    _link_to_active_run(engine, done)
    return PipelineFit.from_row(done)


def apply_pipeline(frame: Any, ref: str, fit: str | None = None, *, settings: Settings | None = None) -> Any:
    """Transform ``frame`` with a stored fit of pipeline version ``ref``; never fits.

    The fitted object's bytes are checked against the recorded sha256 before they are deserialised, and loaded
    trusting exactly the types recorded at fit time. Inside a run, the fit is linked to it as used.

    Args:
        frame: The table to transform (a pandas DataFrame with the columns the pipeline was fitted on).
        ref: ``NAME@VERSION``.
        fit: A fit id, or the name of the data version the fit was made on (default: the newest fit of ``ref``).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The transformed table, as a DataFrame (columns from ``get_feature_names_out`` when the pipeline has it).

    Raises:
        NotFoundError: The pipeline version, or a fit of it, does not exist.
        HashMismatchError: The stored artifact is not the one recorded (nothing was loaded).
        VersioningError: The artifact cannot be loaded with its recorded types, or transforming failed.
        MissingExtraError: scikit-learn or skops is not installed (``reprise[ml]``).

    Example:
        >>> features = reprise.apply_pipeline(pd.read_csv("new.csv"), "prep@1.0.0")  # doctest: +SKIP
    """
    return _apply(settings or load_settings(), frame, ref, fit)[0]


def apply_pipeline_to_file(
    source: Path | str,
    output: Path | str,
    ref: str,
    fit: str | None = None,
    *,
    settings: Settings | None = None,
) -> AppliedTable:
    """Read a CSV/TSV/Parquet table, transform it with a stored fit (:func:`apply_pipeline`), write the result.

    Args:
        source: The table to transform.
        output: Where to write the transformed table (format by suffix; written atomically).
        ref: ``NAME@VERSION``.
        fit: A fit id or data version name (default: the newest fit of ``ref``).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        What was written.

    Raises:
        DataError: A file is not a table or cannot be read or written.
        NotFoundError: The pipeline version, or a fit of it, does not exist.
        HashMismatchError: The stored artifact is not the one recorded.
    """
    from reprise.data.tables import read_table, write_table

    source, output = Path(source), Path(output)
    result, chosen = _apply(settings or load_settings(), read_table(source), ref, fit)
    write_table(result, output)
    return AppliedTable(
        source=str(source),
        output=str(output),
        pipeline=f"{chosen.pipeline}@{chosen.version}",
        fit_id=chosen.fit_id,
        rows=len(result),
        columns=tuple(str(column) for column in result.columns),
    )


def _fit_and_store(settings: Settings, engine: Engine, row: PipelineVersionRow, data_version: str) -> PipelineFitRow:
    """Fit ``row`` on the data version's table, log it to MLflow, record it: the fit stored (maybe another's)."""
    from reprise.store.pipelines import PipelineFitRow, insert_pipeline_fit
    from reprise.tracking.fits import discard_fit_run, log_fitted_bytes

    skops_io = _skops()
    table = _version_table(data_version, settings)
    pipeline = build_pipeline(stored_spec(engine, row))
    try:
        fitted = pipeline.fit(table)
    except Exception as exc:  # any estimator may raise anything on data it cannot take
        raise VersioningError(
            f"fitting pipeline {row.name}@{row.version} on {data_version} failed: {type(exc).__name__}: {exc}",
            hint="check that the pipeline's steps fit the data version's columns and types",
        ) from exc
    blob = skops_io.dumps(fitted)
    fit_id = uuid.uuid4().hex
    run_id, artifact_path = log_fitted_bytes(
        settings,
        blob,
        file_name=f"{row.name}-{row.version}.skops",
        run_name=f"fit {row.name}@{row.version} on {data_version}",
        tags={
            "reprise.pipeline": f"{row.name}@{row.version}",
            "reprise.pipeline_digest": row.digest,
            "reprise.data_version": data_version,
            "reprise.fit_id": fit_id,
        },
    )
    stored = insert_pipeline_fit(
        engine,
        PipelineFitRow(
            fit_id=fit_id,
            pipeline=row.name,
            version=row.version,
            data_version=data_version,
            run_id=run_id,
            artifact_path=artifact_path,
            sha256=hashlib.sha256(blob).hexdigest(),
            trusted_types=sorted(skops_io.get_untrusted_types(data=blob)),
            actor=current_actor(),
            created_at=datetime.now(UTC),
        ),
    )
    if stored.fit_id != fit_id:  # another process stored this fit first: its run is the one to keep
        discard_fit_run(settings, run_id)
    return stored


def _apply(settings: Settings, frame: Any, ref: str, fit: str | None) -> tuple[Any, PipelineFitRow]:
    from reprise.store.db import open_store

    engine = open_store(settings)
    row = _choose_fit(engine, find_version_row(engine, ref), fit)
    fitted = _load_fit(settings, row)
    try:
        out = fitted.transform(frame)
    except Exception as exc:  # any estimator may raise anything on data it cannot take
        raise VersioningError(
            f"pipeline {row.pipeline}@{row.version} (fit {row.fit_id}) cannot transform this table: "
            f"{type(exc).__name__}: {exc}",
            hint=f"give it the columns of data version {row.data_version}",
        ) from exc
    _link_to_active_run(engine, row)
    return _as_frame(out, fitted, frame), row


def _choose_fit(engine: Engine, version: PipelineVersionRow, fit: str | None) -> PipelineFitRow:
    from reprise.store.pipelines import list_pipeline_fits

    fits = list_pipeline_fits(engine, version.name, version.version)
    chosen = fits[-1] if fits and fit is None else next((f for f in fits if fit in (f.fit_id, f.data_version)), None)
    if chosen is None:
        which = "no fit" if fit is None else f"no fit {fit}"
        raise NotFoundError(
            f"pipeline {version.name}@{version.version} has {which}",
            hint=f"reprise pipeline fit {version.name}@{version.version} DATA_VERSION",
        )
    return chosen


def _load_fit(settings: Settings, row: PipelineFitRow) -> Any:
    """The fitted object of ``row``: its bytes checked against the recorded sha256, then loaded (never pickled)."""
    from reprise.tracking.fits import load_fitted_bytes

    skops_io = _skops()
    blob = load_fitted_bytes(settings, row.run_id, row.artifact_path)
    found = hashlib.sha256(blob).hexdigest()
    if found != row.sha256:
        raise HashMismatchError(
            f"the fitted artifact of {row.pipeline}@{row.version} (fit {row.fit_id}, run {row.run_id}) has sha256 "
            f"{found[:16]}..., recorded {row.sha256[:16]}...: it changed after it was stored, and was not loaded",
            hint=f"restore {row.artifact_path} of run {row.run_id}, or fit a new version of the pipeline",
        )
    try:
        return skops_io.loads(blob, trusted=list(row.trusted_types))
    except Exception as exc:  # skops raises its own and pickle-protocol errors alike
        raise VersioningError(
            f"cannot load the fitted artifact of {row.pipeline}@{row.version} (fit {row.fit_id}) with its recorded "
            f"types: {type(exc).__name__}: {exc}",
            hint="fit it again with this Reprise (reprise pipeline fit)",
        ) from exc


def _version_table(data_version: str, settings: Settings) -> Any:
    """The table of a data version, read from the work tree once it is checked to hold the version's bytes."""
    from reprise.data.tables import read_table
    from reprise.data.versions import get_data_version, verify_data

    version = get_data_version(data_version, settings=settings)
    if version.kind != "file":
        raise DataError(
            f"data version {data_version} is a folder; a pipeline is fitted on one table",
            hint="version the table file itself (reprise data version data/train.csv --name ...)",
        )
    (check,) = verify_data(data_version, settings=settings)
    if not check.ok:
        raise DataError(
            f"{version.file_path} does not hold the bytes of data version {data_version}",
            hint=f"reprise data checkout {data_version}",
        )
    return read_table(settings.project_dir / version.file_path)


def _link_to_active_run(engine: Engine, fit: PipelineFitRow) -> None:
    from reprise.store.lineage import Edge, link, node
    from reprise.tracking.fits import active_run_id

    run_id = active_run_id()
    if run_id is not None:
        link(engine, [Edge(fit.ref, node("run", run_id), "used")])


def _as_frame(out: Any, fitted: Any, frame: Any) -> Any:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    if isinstance(out, pd.DataFrame):
        return out
    if hasattr(out, "toarray"):  # a sparse matrix (one-hot columns)
        out = out.toarray()
    try:
        columns = [str(name) for name in fitted.get_feature_names_out()]
    except (AttributeError, ValueError, TypeError):  # a step without feature names
        columns = [f"x{i}" for i in range(out.shape[1])]
    index = frame.index if isinstance(frame, pd.DataFrame) and len(frame) == len(out) else None
    return pd.DataFrame(out, columns=columns, index=index)


def _skops() -> Any:
    try:
        import skops.io
    except ImportError as exc:
        raise MissingExtraError("skops", "ml") from exc
    return skops.io
