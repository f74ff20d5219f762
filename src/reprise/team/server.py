"""``reprise team serve``: one MLflow tracking server for a team, on PostgreSQL, with proxied artifacts and login.

What runs is MLflow's own server (``python -m mlflow server``), the way teams already run it:

* the backend store is the team's PostgreSQL database, and the Reprise metadata store's tables are created (migrated)
  in the same database first, so members' versions, releases, lineage and verdicts land next to the runs;
* artifacts are proxied (``--artifacts-destination``): members upload and download through the server and need no
  access to the artifact folder;
* MLflow's built-in basic authentication (``--app-name basic-auth``) with workspaces on, its users and roles in the
  same database (MLflow keeps them in tables of their own); every user is refused by default and gets rights
  through a role (:mod:`reprise.team.roles`);
* it binds to loopback unless the caller says ``allow_remote``.

No secret is written by Reprise: the database password (if the URI holds one) reaches the server as ``PGPASSWORD``,
the admin password comes from ``MLFLOW_AUTH_ADMIN_PASSWORD``, and the session-signing key from
``MLFLOW_FLASK_SERVER_SECRET_KEY`` (a fresh random one per start when unset). The auth config file written next to
the artifacts holds the password-free database URI only.

Example:
    >>> options = TeamServerOptions(db_uri="postgresql://postgres@127.0.0.1:5432/team", directory=Path("team"))
    >>> serve_team(options, on_ready=print)        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from reprise._canonical import write_atomic
from reprise._offline import ensure_offline
from reprise._process import set_parent_death_signal
from reprise.capture.redact import redact_text, redact_uri
from reprise.errors import ConfigError, MissingExtraError, TrackingError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "ADMIN_PASSWORD_ENV",
    "LOOPBACK_HOSTS",
    "TeamServer",
    "TeamServerOptions",
    "serve_team",
    "split_password",
    "start_team_server",
    "team_server_command",
]

#: Hosts a server may bind to without ``allow_remote``.
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})
#: Where the first admin's password comes from (MLflow's own variable; it is read only while no admin exists).
ADMIN_PASSWORD_ENV: Final = "MLFLOW_AUTH_ADMIN_PASSWORD"  # noqa: S105 - a variable's name
_SECRET_KEY_ENV: Final = "MLFLOW_FLASK_SERVER_SECRET_KEY"  # noqa: S105 - a variable's name
_AUTH_CONFIG: Final = """\
# Written by `reprise team serve`: MLflow's basic-auth settings. No secret here (the admin password comes from
# {admin_env}, a database password from PGPASSWORD).
[mlflow]
default_permission = NO_PERMISSIONS
database_uri = {database_uri}
admin_username = {admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
# A password checks in ~1 s (PBKDF2) on a busy machine; a good one is remembered for 60 s per worker process, so a
# changed or deleted password can still open another worker for up to a minute.
auth_cache_ttl_seconds = 60
"""


@dataclass(frozen=True)
class TeamServerOptions:
    """How to run the team's server.

    Attributes:
        db_uri: The team's PostgreSQL database (``postgresql://user[:password]@host:5432/db``); it must exist.
        directory: The server's folder: ``auth.ini``, ``server.log``, and by default ``artifacts/`` and
            ``dvc-remote/``.
        host: Interface to bind; anything but loopback needs ``allow_remote``.
        port: TCP port.
        workers: Server worker processes.
        allow_remote: Allow binding to a non-loopback interface.
        artifacts: Where the server keeps artifacts (default ``<directory>/artifacts``).
        dvc_remote: The shared DVC remote members push to (default ``<directory>/dvc-remote``; any DVC remote URL).
        admin_username: The MLflow admin created on first start.
    """

    db_uri: str
    directory: Path
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 4
    allow_remote: bool = False
    artifacts: Path | None = None
    dvc_remote: str | None = None
    admin_username: str = "admin"

    @property
    def artifact_root(self) -> Path:
        """The artifact folder the server writes."""
        return (self.artifacts or self.directory / "artifacts").resolve()

    @property
    def remote(self) -> str:
        """The shared DVC remote (a folder path or a DVC remote URL)."""
        return self.dvc_remote or str((self.directory / "dvc-remote").resolve())


@dataclass(frozen=True)
class TeamServer:
    """A started team server and what members put in their project.

    Attributes:
        url: The tracking URI members use.
        store_uri: The metadata store URI members use (no password: it comes from ``PGPASSWORD`` or ``~/.pgpass``).
        dvc_remote: The shared DVC remote.
        artifacts: The server's artifact folder.
        log: The server's log file.
        pid: The server process.
        actions: What was prepared before the start, one line each.
    """

    url: str
    store_uri: str
    dvc_remote: str
    artifacts: Path
    log: Path
    pid: int
    actions: tuple[str, ...] = ()

    def member_setup(self) -> list[str]:
        """The lines a member runs to join: credentials in their own environment, then ``reprise init --team``."""
        return [
            "export MLFLOW_TRACKING_USERNAME=<your user> MLFLOW_TRACKING_PASSWORD=<your password>"
            "   # or ~/.mlflow/credentials; never in reprise.toml",
            f"reprise init --team {self.url} --team-store {self.store_uri} --dvc-remote {self.dvc_remote}",
        ]


def team_server_command(options: TeamServerOptions) -> tuple[list[str], dict[str, str]]:
    """The ``mlflow server`` command line and environment for ``options`` (nothing is started or written).

    Raises:
        ConfigError: A non-loopback host without ``allow_remote``, a database URI that is not PostgreSQL, or no
            admin password in the environment.
        MissingExtraError: Flask-WTF, which MLflow's basic-auth app needs, is not installed.
    """
    _check_options(options)
    if importlib.util.find_spec("flask_wtf") is None:  # MLflow's basic-auth app refuses to start without it
        raise MissingExtraError("flask-wtf (MLflow's auth extra)", "team")
    database, password = split_password(options.db_uri)
    env = dict(os.environ)
    ensure_offline(env)
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(_auth_config_path(options))
    env.setdefault(_SECRET_KEY_ENV, secrets.token_urlsafe(32))
    # A tracking server needs no job runner; without it the start is seconds faster.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    if password is not None:
        env["PGPASSWORD"] = password
    argv = [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth", "--enable-workspaces"]
    argv += ["--backend-store-uri", database, "--artifacts-destination", str(options.artifact_root)]
    argv += ["--host", options.host, "--port", str(options.port), "--workers", str(options.workers)]
    if options.host not in LOOPBACK_HOSTS:
        # MLflow's host-header check allows only localhost by default; basic auth guards every route instead.
        argv += ["--allowed-hosts", "*"]
    return argv, env


def start_team_server(
    options: TeamServerOptions, *, timeout: float = 300.0
) -> tuple[subprocess.Popen[bytes], TeamServer]:
    """Prepare the database and folders, start the server and wait (at most ``timeout`` s) until it answers.

    Args:
        options: How to run it.
        timeout: Seconds the server has to answer ``/health``.

    Returns:
        The server process (it dies with this one) and what members need.

    Raises:
        ConfigError: See :func:`team_server_command`.
        StoreError: The database cannot be reached or the metadata store's schema cannot be created.
        TrackingError: The server exited or did not answer in time (the message ends with its last log line).
    """
    argv, env = team_server_command(options)
    actions = _prepare(options)
    log = options.directory.resolve() / "server.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            argv,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=set_parent_death_signal,  # noqa: PLW1509
        )
    url = f"http://{_public_host(options.host)}:{options.port}"
    try:
        _wait_until_ready(process, f"http://{_connect_host(options.host)}:{options.port}", log, timeout)
    except BaseException:
        _stop(process)
        raise
    server = TeamServer(
        url=url,
        store_uri=split_password(options.db_uri)[0],
        dvc_remote=options.remote,
        artifacts=options.artifact_root,
        log=log,
        pid=process.pid,
        actions=tuple(actions),
    )
    return process, server


def serve_team(options: TeamServerOptions, *, on_ready: Callable[[TeamServer], None], timeout: float = 300.0) -> int:
    """Run the team's server in the foreground until it stops or this process is interrupted or terminated.

    Args:
        options: How to run it.
        on_ready: Called once the server answers (print what members put in their project).
        timeout: Seconds the server has to answer.

    Returns:
        The server's exit code (0 after Ctrl+C or SIGTERM).

    Raises:
        ConfigError: See :func:`team_server_command`.
        StoreError: See :func:`start_team_server`.
        TrackingError: See :func:`start_team_server`.
    """
    with _terminate_as_interrupt():
        process, server = start_team_server(options, timeout=timeout)
        try:
            on_ready(server)
            return process.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            _stop(process)


def split_password(uri: str) -> tuple[str, str | None]:
    """``uri`` without its password, and the password (``None`` when it has none).

    Example:
        >>> split_password("postgresql://team:s3cret@db:5432/mlflow")
        ('postgresql://team@db:5432/mlflow', 's3cret')
    """
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri, None
    userinfo = parts.netloc.rpartition("@")[0].partition(":")[0]
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{userinfo}@{host}")), urllib.parse.unquote(parts.password)


def _check_options(options: TeamServerOptions) -> None:
    if options.host not in LOOPBACK_HOSTS and not options.allow_remote:
        raise ConfigError(
            f"--host {options.host} would expose the team's server beyond this machine",
            hint="bind to 127.0.0.1 (behind your proxy), or pass --allow-remote to mean it",
        )
    scheme = options.db_uri.partition("://")[0].partition("+")[0].lower()
    if scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            f"--db {split_password(options.db_uri)[0]} is not a PostgreSQL database",
            hint="reprise team serve --db postgresql://USER:PASSWORD@HOST:5432/DB",
        )
    if not os.environ.get(ADMIN_PASSWORD_ENV):
        raise ConfigError(
            f"{ADMIN_PASSWORD_ENV} is not set: the server's first admin needs a password",
            hint=f"export {ADMIN_PASSWORD_ENV}=<a long password> (read only until the admin exists)",
        )


def _auth_config_path(options: TeamServerOptions) -> Path:
    return options.directory.resolve() / "auth.ini"


def _prepare(options: TeamServerOptions) -> list[str]:
    from reprise.store.db import open_store
    from reprise.store.migrations import current_version

    actions: list[str] = []
    for folder in (options.directory, options.artifact_root):
        if not folder.exists():
            folder.mkdir(parents=True)
            actions.append(f"created {folder.resolve()}")
    if "://" not in options.remote and not Path(options.remote).exists():
        Path(options.remote).mkdir(parents=True)
        actions.append(f"created the shared DVC remote {options.remote}")
    version = current_version(open_store(options.db_uri))  # creates or migrates the metadata store's tables
    actions.append(f"the metadata store in {split_password(options.db_uri)[0]} is at schema version {version}")
    database = split_password(options.db_uri)[0].replace("%", "%%")  # configparser interpolates %
    text = _AUTH_CONFIG.format(admin_env=ADMIN_PASSWORD_ENV, database_uri=database, admin=options.admin_username)
    path = _auth_config_path(options)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text)
        actions.append(f"wrote {path}")
    return actions


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TrackingError(
                f"the team's MLflow server exited with code {process.returncode}: {_last_line(log)}",
                hint=f"read {log}",
            )
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(f"{url}/health", timeout=2),  # noqa: S310 - our own http URL
        ):
            return
        time.sleep(0.5)
    raise TrackingError(
        f"the team's MLflow server did not answer {url}/health within {timeout:.0f} s: {_last_line(log)}",
        hint=f"read {log}",
    )


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return redact_text(redact_uri(lines[-1].strip()))[:300] if lines else "(no output)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the foreground server like Ctrl+C does: the MLflow server is stopped, not orphaned."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _public_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):  # noqa: S104 - naming the machine, not binding
        import socket

        return socket.getfqdn()
    return f"[{host}]" if ":" in host else host


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "localhost") else (f"[{host}]" if ":" in host else host)  # noqa: S104
