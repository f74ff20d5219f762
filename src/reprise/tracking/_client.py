"""The only place that builds an ``MlflowClient``; experiments get their artifact root from Settings.

Before the first client on a tracking URI, in every process, the store is made ready (:func:`prepare_tracking_store`):

* a database URI (SQLite, PostgreSQL, MySQL, SQL Server) is created and migrated to MLflow's head schema once, under
  an inter-process lock (``fcntl.flock`` on ``<db>.lock`` for SQLite, an advisory lock on PostgreSQL), because
  MLflow's ``SqlAlchemyStore`` creates tables unlocked and N processes opening a new store at once break it; a store
  left half-migrated (Alembic revision missing or behind, tables missing) is upgraded under the same lock, and one
  whose upgrade fails but that holds nothing (no runs, models or experiments of its own) is set aside and rebuilt;
* a SQLite file is checked first (a truncated or foreign file is a one-line error, not MLflow's 100 s retry loop);
* an ``http(s)://`` server must answer ``/health`` within :data:`HEALTH_TIMEOUT` seconds.

Network waits are bounded in this process (and its children) unless the user set them: MLflow's HTTP timeout and
retries, and libpq's connect timeout (:data:`NETWORK_ENV`). MLflow errors are wrapped into
:class:`reprise.errors.TrackingError` or :class:`reprise.errors.NotFoundError` here.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from reprise._offline import ensure_offline
from reprise.capture.redact import redact_uri
from reprise.errors import ConfigError, NotFoundError, TrackingError

_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mlflow import MlflowClient

    from reprise.config import Settings
    from reprise.store.db import DatabaseState

__all__ = [
    "HEALTH_TIMEOUT",
    "NETWORK_ENV",
    "client_for",
    "ensure_experiment",
    "fetch_artifacts",
    "forget_ready",
    "log_folder",
    "prepare_tracking_store",
    "quiet_downloads",
]

#: Bounds on network waits, set (unless already set) in this process and so in every child it starts: an MLflow
#: HTTP request gives up after 30 s without an answer and is retried twice (MLflow: 120 s and 7 retries, minutes of
#: silence), and a PostgreSQL connection attempt after 10 s (libpq/psycopg: 130 s).
NETWORK_ENV: Final[dict[str, str]] = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "PGCONNECT_TIMEOUT": "10",
}
#: Seconds a tracking server has to answer ``/health`` before a command gives up on it.
HEALTH_TIMEOUT: Final = 5.0

_SQL_BACKENDS: Final = ("sqlite", "postgresql", "postgres", "mysql", "mssql")
#: Tables whose rows are a user's work: a store holding none of them may be rebuilt rather than repaired.
_USER_TABLES: Final = ("experiments", "runs", "registered_models", "logged_models", "trace_info")
_READY: set[str] = set()
_READY_LOCK = threading.Lock()
_LOG = logging.getLogger("reprise.tracking")


def client_for(settings: Settings) -> MlflowClient:
    """An MLflow client on the project's tracking store (one per URI per process), the store made ready first.

    Raises:
        ConfigError: ``tracking_uri`` is not a store MLflow can open.
        TrackingError: The store cannot be reached, is damaged, or could not be created or migrated.
    """
    prepare_tracking_store(settings)
    return _client(settings.tracking_uri, _config_name(settings))


def prepare_tracking_store(settings: Settings) -> list[str]:
    """Make the tracking store usable: create or repair a database store under a lock, check that a server answers.

    Runs once per tracking URI per process (later calls return ``[]`` at once); safe to call from any number of
    processes at the same time.

    Args:
        settings: The project's settings (``tracking_uri``, ``artifact_location``).

    Returns:
        What was done, one line each (empty when the store was ready).

    Raises:
        TrackingError: The store cannot be reached, is damaged, or could not be created or migrated; the message
            names the (password-redacted) URI or file.
    """
    uri = settings.tracking_uri
    with _READY_LOCK:
        if uri in _READY:
            return []
        ensure_offline()
        for name, value in NETWORK_ENV.items():
            os.environ.setdefault(name, value)
        backend = uri.partition(":")[0].partition("+")[0].lower() if "://" in uri else ""
        done: list[str] = []
        if backend in ("http", "https"):
            _check_server(uri, _config_name(settings))
        elif backend in _SQL_BACKENDS:
            done = _prepare_database(uri, settings.artifact_location, _config_name(settings))
        _READY.add(uri)
        return done


def forget_ready(uri: str) -> None:
    """Make the next :func:`client_for` on ``uri`` check the store again (a long-lived process, between runs)."""
    with _READY_LOCK:
        _READY.discard(uri)


def _config_name(settings: Settings) -> str:
    return settings.config_file.name if settings.config_file is not None else "reprise.toml"


def _check_server(uri: str, config: str) -> None:
    import http.client
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(uri)
    # Credentials go in MLFLOW_TRACKING_USERNAME/PASSWORD; a userinfo in the URL would make urllib refuse it.
    health = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment=""))
    try:
        with urllib.request.urlopen(health.rstrip("/") + "/health", timeout=HEALTH_TIMEOUT):  # noqa: S310 - http(s)
            return
    except urllib.error.HTTPError:
        return  # it answered (an auth proxy may refuse /health): the server is there
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            reason = f"no answer within {HEALTH_TIMEOUT:.0f} s"
        raise TrackingError(
            f"the MLflow tracking server {redact_uri(uri)} does not answer ({reason})",
            hint=f"start it (mlflow server ...), or fix tracking_uri in {config} (or REPRISE_TRACKING_URI)",
        ) from exc


def _prepare_database(uri: str, artifact_location: str, config: str) -> list[str]:
    from reprise.store.db import check_sqlite_file, database_lock, describe_database, sqlite_path

    shown = redact_uri(uri)
    hint = f"check tracking_uri in {config} (or REPRISE_TRACKING_URI), and that the database server is up"
    path = sqlite_path(uri)
    facts: dict[str, Any] = {"what": "tracking store", "error": TrackingError}
    if path is not None:
        check_sqlite_file(path, **facts)
    with database_lock(uri, "mlflow-tracking", hint=hint, **facts):
        state = describe_database(uri, hint=hint, **facts)
        head, expected = _mlflow_head()
        if state.alembic_revisions == (head,) and expected <= state.tables:
            return []
        # Counting rows scans tables: only when the store needs work, to tell a user's store from an empty one.
        state = describe_database(uri, count=_USER_TABLES, hint=hint, **facts)
        try:
            done = _migrate(uri, path, state, head)
        except TrackingError:
            raise
        except Exception as exc:  # creating: a full disk, a refused CREATE, a file that cannot be copied or moved
            raise TrackingError(f"cannot create the tracking store {shown}: {_reason(exc)}", hint=hint) from exc
        for line in done:
            if not line.startswith("created"):
                _LOG.warning("%s", line)  # a repair the user should know about (stderr, one line)
        try:
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            # The Default experiment, with its artifacts under the project's artifact root (left to itself MLflow
            # roots them at ./mlruns in whatever directory first opened the store).
            SqlAlchemyStore(uri, artifact_location)  # type: ignore[no-untyped-call]
        except Exception as exc:  # MLflow raises SQLAlchemy, Alembic and its own errors alike
            raise TrackingError(f"cannot open the tracking store {shown}: {_reason(exc)}", hint=hint) from exc
        return done


def _mlflow_head() -> tuple[str, set[str]]:
    from mlflow.store.db import utils
    from mlflow.store.db.base_sql_model import Base

    # utils imports every ORM module, so Base knows every table (the check MLflow's _all_tables_exist makes).
    return utils._get_latest_schema_revision(), set(Base.metadata.tables)  # type: ignore[no-untyped-call]


def _migrate(uri: str, path: Path | None, state: DatabaseState, head: str) -> list[str]:
    """Create the schema of an empty store, or bring a half-migrated one to ``head``; the caller holds the lock."""
    import mlflow

    shown = redact_uri(uri)
    if all(table.startswith("alembic_") for table in state.tables):
        _run_migrations(uri)
        return [f"created the tracking store {shown}"]
    found = ", ".join(state.alembic_revisions) or "none"
    holds_work = _holds_work(state)
    backup = None
    if path is not None and holds_work:
        backup = path.with_name(f"{path.name}.before-upgrade-{_stamp()}")
        shutil.copy2(path, backup)
    try:
        _run_migrations(uri)
        return [f"upgraded the tracking store {shown} from schema {found} to {head}"]
    except Exception as exc:  # MLflow's migrations raise SQLAlchemy, Alembic and their own errors alike
        failure = exc
    if path is not None and not holds_work:
        aside = path.with_name(f"{path.name}.broken-{_stamp()}")
        for suffix in ("", "-wal", "-shm", "-journal"):
            old = path.with_name(path.name + suffix)
            if old.exists():
                old.replace(aside.with_name(aside.name + suffix))
        _run_migrations(uri)
        return [f"rebuilt the half-migrated, empty tracking store {path} (the old file is {aside})"]
    where = f"; a copy from before the attempt is {backup}" if backup else ""
    raise TrackingError(
        f"the tracking store {shown} is half-migrated (schema {found}, MLflow {mlflow.__version__} needs {head}) "
        f"and upgrading it failed: {_reason(failure)}{where}",
        hint=f"run `mlflow db upgrade {shown}` on a copy to see what is wrong, or move the database aside to start "
        "an empty store",
    ) from failure


def _run_migrations(uri: str) -> None:
    from mlflow.store.db import utils

    engine = utils.create_sqlalchemy_engine(uri)  # type: ignore[no-untyped-call]
    try:
        # MLflow's own first-use path: the initial tables (if missing), then Alembic up to head.
        utils._initialize_tables(engine)  # type: ignore[no-untyped-call]
    finally:
        engine.dispose()


def _holds_work(state: DatabaseState) -> bool:
    rows = state.rows
    return rows.get("experiments", 0) > 1 or any(rows.get(table, 0) for table in _USER_TABLES[1:])


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _reason(exc: BaseException) -> str:
    from reprise.store.db import one_line

    message = getattr(exc, "message", None)
    return redact_uri(one_line(exc) if not isinstance(message, str) else " ".join(message.split())[:300])


@functools.cache
def _client(tracking_uri: str, config: str = "reprise.toml") -> MlflowClient:
    ensure_offline()
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient(tracking_uri=tracking_uri)
    except MlflowException as exc:
        scheme = tracking_uri.partition(":")[0] if "://" in tracking_uri else tracking_uri
        raise ConfigError(
            f"tracking_uri {redact_uri(tracking_uri)!r} is not a store MLflow can open (scheme '{scheme}')",
            hint=f"set tracking_uri in {config} (or REPRISE_TRACKING_URI, --tracking-uri) to sqlite:///path, "
            "postgresql://host:5432/db or http://host:5000",
        ) from exc


def ensure_experiment(settings: Settings, name: str) -> str:
    """Return the id of experiment ``name``, creating it with its artifacts under the project's artifact root.

    On a tracking server a local (``file:``) artifact root is left out: the server roots the experiment in its own
    artifact store and proxies it (``mlflow-artifacts:``), so every member reads what another logged.
    """
    from mlflow.exceptions import MlflowException

    client = client_for(settings)
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment.experiment_id)
            return str(experiment.experiment_id)
        location: str | None = f"{settings.artifact_location.rstrip('/')}/{_slug(name)}"
        if _is_server(settings.tracking_uri) and settings.artifact_location.startswith("file:"):
            location = None
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except MlflowException as exc:
            # Another process created it between our read and our create (first runs at once): use theirs.
            raced = client.get_experiment_by_name(name) if exc.error_code == "RESOURCE_ALREADY_EXISTS" else None
            if raced is None:
                raise
            return str(raced.experiment_id)
    except MlflowException as exc:
        raise TrackingError(
            f"cannot open experiment '{name}' in {settings.tracking_uri}: {exc.message}",
            hint="check tracking_uri in reprise.toml",
        ) from exc


def fetch_artifacts(settings: Settings, run_id: str, artifact_path: str, destination: Path) -> Path:
    """Download ``artifact_path`` of run ``run_id`` into ``destination`` and return the local path.

    Raises:
        NotFoundError: The run or the artifact does not exist.
    """
    from mlflow.exceptions import MlflowException

    client = _existing_run(settings, run_id)
    try:
        local = client.download_artifacts(run_id, artifact_path, str(destination))
    except (MlflowException, OSError) as exc:
        raise NotFoundError(
            f"run {run_id} has no artifact '{artifact_path}'", hint="was the run captured by Reprise?"
        ) from exc
    return Path(local)


def log_folder(settings: Settings, run_id: str, folder: Path, artifact_path: str) -> None:
    """Log every file in ``folder`` under ``artifact_path`` of an existing run, in one call.

    Raises:
        NotFoundError: The run does not exist.
    """
    _existing_run(settings, run_id).log_artifacts(run_id, str(folder), artifact_path)


def _existing_run(settings: Settings, run_id: str) -> MlflowClient:
    from mlflow.exceptions import MlflowException

    client = client_for(settings)
    try:
        client.get_run(run_id)
    except MlflowException as exc:
        raise NotFoundError(
            f"no run {run_id} in {settings.tracking_uri}", hint="check the run id in the MLflow UI (`mlflow ui`)"
        ) from exc
    return client


@contextlib.contextmanager
def quiet_downloads() -> Iterator[None]:
    """No MLflow download progress bar inside the block (small metadata files, server logs), unless the user set one."""
    if _PROGRESS_BAR in os.environ:
        yield
        return
    os.environ[_PROGRESS_BAR] = "false"
    try:
        yield
    finally:
        os.environ.pop(_PROGRESS_BAR, None)


def _is_server(uri: str) -> bool:
    return uri.partition(":")[0].lower() in ("http", "https")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "experiment"
