"""Where a search's trials run and where its Optuna study lives.

Trials are cross-validated in this process when one worker is asked for (Dask is not needed then), else as tasks
on a Dask cluster: a local one of ``workers`` processes with one thread each, or an existing scheduler
(``cluster="tcp://host:8786"``), started through :func:`reprise._cluster.dask_client` like team batch work. The
search's data is sent to every worker once. A task is a pure function of its trial's parameters, the data and the
trial's seed (:func:`reprise.automl.evaluate.evaluate_trial`), so where it ran does not change what it returns.

The study is kept in an Optuna RDB storage: the project's ``.reprise/optuna.db`` (SQLite), or, when the metadata
store is the team's PostgreSQL, that database, in a schema of its own (``reprise_optuna``) so Optuna's tables stay
apart from MLflow's and the store's. Each search is its own study, named after its MLflow run.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Final

from reprise.automl.evaluate import evaluate_trial
from reprise.errors import MissingExtraError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from reprise.automl.evaluate import SearchData, TrialEvaluation
    from reprise.automl.presets import Constraints
    from reprise.config import Settings

__all__ = ["OPTUNA_SCHEMA", "TrialRunner", "study_storage", "trial_runner"]

#: The PostgreSQL schema of Optuna's tables in the team's database.
OPTUNA_SCHEMA: Final = "reprise_optuna"


class TrialRunner:
    """Evaluates trials here or on a Dask cluster; :meth:`submit` returns a future either way."""

    def __init__(self, data: SearchData, constraints: Constraints, client: Any = None) -> None:
        self._client = client
        self._constraints = constraints
        self._data: Any = data if client is None else client.scatter(data, broadcast=True)
        #: Worker processes evaluating trials (1 in this process).
        self.workers = 1 if client is None else len(client.scheduler_info(n_workers=-1)["workers"])

    def submit(self, params: Mapping[str, Any], seed: int) -> Future[TrialEvaluation] | Any:
        """Start evaluating one trial; ``.result()`` gives its :class:`TrialEvaluation` or raises its error."""
        if self._client is not None:
            return self._client.submit(evaluate_trial, dict(params), self._data, self._constraints, seed, pure=False)
        future: Future[TrialEvaluation] = Future()
        try:
            future.set_result(evaluate_trial(params, self._data, self._constraints, seed))
        except Exception as exc:  # a trial that cannot be fitted fails alone: its future carries the error
            future.set_exception(exc)
        return future


@contextlib.contextmanager
def trial_runner(
    data: SearchData, constraints: Constraints, workers: int, cluster: str | None = None
) -> Iterator[TrialRunner]:
    """A :class:`TrialRunner`: in this process for one worker and no cluster, else on Dask.

    Raises:
        MissingExtraError: More than one worker, or a cluster, without Dask (``reprise[team]``).
    """
    if workers == 1 and cluster is None:
        yield TrialRunner(data, constraints)
        return
    from reprise._cluster import dask_client

    with dask_client(workers, cluster) as client:
        yield TrialRunner(data, constraints, client)


@contextlib.contextmanager
def study_storage(settings: Settings) -> Iterator[Any]:
    """The Optuna RDB storage of the project's searches (see the module docstring), its connections closed after.

    Raises:
        MissingExtraError: Optuna (the ``automl`` extra) is not installed.
        StoreError: The team's PostgreSQL cannot be reached.
    """
    try:
        from optuna.storages import RDBStorage
    except ImportError as exc:
        raise MissingExtraError("optuna", "automl") from exc

    uri = settings.store_uri
    if uri.startswith("postgresql"):
        from reprise.store.db import create_schema

        create_schema(uri, OPTUNA_SCHEMA)
        storage = RDBStorage(uri, engine_kwargs={"connect_args": {"options": f"-csearch_path={OPTUNA_SCHEMA}"}})
    else:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        storage = RDBStorage(f"sqlite:///{settings.state_dir / 'optuna.db'}")
    try:
        yield storage
    finally:
        storage.remove_session()
        storage.engine.dispose()
