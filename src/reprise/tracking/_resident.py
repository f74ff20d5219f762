"""The resident process: MLflow imported once and kept warm, doing ``reprise run``'s writes to the tracking store.

Importing MLflow and opening its store costs a process 2-4 s, more than most commands a pipeline stage wraps. So
``reprise run`` does its capture (git, environment, files) itself and hands the few store steps of
:mod:`reprise.tracking._run_store` to a resident process, which runs them through ``MlflowClient`` as the wrapper
would have, and sends back the result, the :class:`~reprise.errors.RepriseError` raised, and what the step printed to
stderr (the wrapper prints it). Runs are the same either way; only where the MLflow calls happen differs.

* One resident serves one user, interpreter, Reprise install and MLflow environment (the key of its socket), and
  the embedded SQLite stores of any number of projects. It listens on a Unix socket in a folder only its user
  can enter (``$TMPDIR/reprise-<uid>/``, mode 0700), runs one step at a time, and exits once no wrapper has been
  connected for :data:`IDLE_SECONDS`, or after serving :data:`MAX_STORES` stores (its open files stay bounded).
* A wrapper that finds none starts one (detached, in its own session, its output in ``<key>.log`` there) and keeps
  capturing while it imports MLflow; a store whose database file was replaced since the resident opened it is not
  served (its pooled connections point at the old file), nor is any store once a Reprise source file it loaded has
  changed (a developer's edit): the resident retires and the wrapper does the step itself.
* A tracking server is served too (the resident's key holds the wrapper's ``MLFLOW_*`` credentials and cloud
  settings); whether it answers is checked again at the start of every run, as a wrapper of its own would.
* Stores the resident does not serve (PostgreSQL, a SQLite store with a non-local artifact root), a process that has
  imported MLflow already, ``REPRISE_RESIDENT=0``, or a resident that does not come up within
  :data:`START_SECONDS`: the wrapper does every step in its own process, as a plain ``reprise.start_run`` does.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import pickle
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from reprise.errors import RepriseError, TrackingError
from reprise.store.db import sqlite_path

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import TypeAlias

    from reprise.config import Settings

    #: A step: its name in :mod:`reprise.tracking._run_store`'s table, or a read function (sent by reference).
    Step: TypeAlias = str | Callable[..., Any]

__all__ = [
    "DISABLE_ENV",
    "IDLE_SECONDS",
    "MAX_STORES",
    "START_SECONDS",
    "in_process",
    "read_through_resident",
    "resident_steps",
]

T = TypeVar("T")

#: ``REPRISE_RESIDENT=0`` makes ``reprise run`` do its store writes in its own process.
DISABLE_ENV: Final = "REPRISE_RESIDENT"
#: A resident exits after this long without a connected wrapper.
IDLE_SECONDS: Final = 60.0
#: A resident retires after serving this many tracking stores (each keeps a pool of open database connections).
MAX_STORES: Final = 24
#: How long a wrapper waits for a resident it started to accept connections.
START_SECONDS: Final = 15.0
#: How long one step may take in the resident before the wrapper gives up on it.
STEP_SECONDS: Final = 600.0

#: Environment variables a resident's work depends on: a wrapper with other values gets another resident.
_ENV_PREFIXES: Final = ("MLFLOW_", "PG", "SQLALCHEMY_", "PYTHONPATH", "AWS_", "AZURE_", "GOOGLE_", "REQUESTS_", "SSL_")
#: Passed with each step, never read from the resident's environment.
_ENV_PER_RUN: Final = frozenset(
    {"MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"}
)
_HEADER = struct.Struct("!Q")
_PACKAGE: Final = str(Path(__file__).resolve().parent.parent)


def in_process(step: Step, **arguments: Any) -> Any:
    """Run ``step`` (a name in :mod:`reprise.tracking._run_store`'s table, or a read) in this process."""
    if callable(step):
        return step(**arguments)
    from reprise.tracking._run_store import STEPS

    return STEPS[step](**arguments)


def read_through_resident(read: Callable[..., T], settings: Settings, **arguments: Any) -> T:
    """``read(settings=settings, **arguments)`` in the resident process when it serves ``settings``' store, else here.

    For commands that only read the stores (``reprise runs``, ``reprise registry list``): served by a running
    resident, they import neither MLflow nor SQLAlchemy. When none runs, this one starts one for the next command and
    does the read itself meanwhile, so the first read costs what it did before residents. ``read`` must be a
    module-level function of Reprise taking plain arguments and returning plain data (dataclasses, pydantic models
    of builtins): it crosses the socket by name, its result by value.
    """
    connection = _Connection.open(settings, wait=False) if _servable(settings) else None
    if connection is None:
        return read(settings=settings, **arguments)
    try:
        result: T = connection.step(read, settings=settings, **arguments)
    finally:
        connection.close()
    return result


@contextlib.contextmanager
def resident_steps(settings: Settings) -> Iterator[Callable[..., Any]]:
    """A step runner for a run on ``settings``' store: the resident process when it serves that store, else this one.

    Entered early (before capturing), so a resident this call starts imports MLflow while the wrapper captures.
    """
    connection = _Connection.open(settings) if _servable(settings) else None
    if connection is None:
        yield in_process
        return
    try:
        yield connection.step
    finally:
        connection.close()


def _servable(settings: Settings) -> bool:
    # A process that has MLflow imported already (a notebook, a test) has nothing to save by handing the steps over.
    if "mlflow" in sys.modules or os.environ.get(DISABLE_ENV, "1") == "0" or not hasattr(os, "posix_spawn"):
        return False
    if _is_server(settings.tracking_uri):
        return True
    path = sqlite_path(settings.tracking_uri)
    location = settings.artifact_location
    local_artifacts = location.startswith("file:") or Path(location).is_absolute()
    return path is not None and path.is_absolute() and local_artifacts


class _Connection:
    """The wrapper's end: one socket to the resident, held for the whole run (so the resident is not idle)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._local = False

    @classmethod
    def open(cls, settings: Settings, *, wait: bool = True) -> _Connection | None:
        """A connection to the resident; one is started when none runs, and awaited only when ``wait``."""
        folder = _folder()
        if folder is None:
            return None
        path = folder / f"{_key()}.sock"
        sock = _connect(path)
        if sock is None and not wait:
            _spawn(path)
            return None
        deadline = time.monotonic() + START_SECONDS
        spawns = 0
        while sock is None and spawns < 3 and time.monotonic() < deadline:
            pid = _spawn(path)
            spawns += 1
            while sock is None and time.monotonic() < deadline:
                time.sleep(0.02)
                sock = _connect(path)
                code = _exit_code(pid)
                if sock is None and code is not None:
                    if code != 0:
                        return None  # it cannot start here: the wrapper writes the run itself
                    break  # it found another resident starting (or just retiring): start one again
        return None if sock is None else cls(sock)

    def step(self, step: Step, **arguments: Any) -> Any:
        if self._local:
            return in_process(step, **arguments)
        try:
            _send(self._sock, (step, arguments))
            reply = _receive(self._sock)
        except (OSError, EOFError, pickle.PickleError) as exc:
            raise TrackingError(
                f"the resident tracking process ended during '{_name(step)}' ({exc or type(exc).__name__})",
                hint=f"run again; {DISABLE_ENV}=0 makes reprise run write the run itself",
            ) from exc
        outcome, value, printed = reply
        if printed:
            sys.stderr.write(printed)
            sys.stderr.flush()
        if outcome == "unserved":  # the store's file was replaced since the resident opened it
            self._local = True
            return in_process(step, **arguments)
        if outcome == "error":
            raise value
        return value

    def close(self) -> None:
        self._sock.close()


def _folder() -> Path | None:
    """``$TMPDIR/reprise-<uid>``, made private; None when it exists but is not ours alone."""
    folder = Path(tempfile.gettempdir()) / f"reprise-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    try:
        info = folder.lstat()
    except OSError:
        return None
    private = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077
    return folder if private else None


def _key() -> str:
    """What a resident must share with the wrapper: interpreter, Reprise and MLflow installs, environment."""
    import importlib.util

    digest = hashlib.sha256(f"{sys.executable}\0{sys.version}\0{_PACKAGE}\0".encode())
    spec = importlib.util.find_spec("mlflow")
    if spec is not None and spec.origin is not None:
        info = Path(spec.origin).stat()
        digest.update(f"{spec.origin}\0{info.st_mtime_ns}\0{info.st_size}\0".encode())
    for name in sorted(os.environ):
        if name.startswith(_ENV_PREFIXES) and name not in _ENV_PER_RUN:
            digest.update(f"{name}={os.environ[name]}\0".encode())
    return digest.hexdigest()[:24]


def _connect(path: Path) -> socket.socket | None:
    """A connection that the resident has greeted (a resident closing its door never greets), or None."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(START_SECONDS)
        sock.connect(str(path))
        if not _same_user(sock) or _receive(sock) != "ready":
            raise EOFError
        sock.settimeout(STEP_SECONDS)
    except (OSError, EOFError, pickle.PickleError):
        sock.close()
        return None
    return sock


def _spawn(path: Path) -> int:
    """Start a resident on ``path`` in its own session: no terminal, no pipe of ours held open, stderr to a log."""
    log = path.with_suffix(".log")
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
    ]
    argv = [sys.executable, "-m", "reprise.tracking._resident", str(path)]
    return os.posix_spawn(sys.executable, argv, os.environ, file_actions=actions, setsid=True)


def _exit_code(pid: int) -> int | None:
    """The exit code of the resident started as ``pid``, None while it runs."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if done == pid else None


def _same_user(sock: socket.socket) -> bool:
    """Whether the process at the other end of ``sock`` runs as this user: only then is what it sends unpickled.

    The private folder already keeps others out; the peer's credentials (Linux) hold even if its mode is changed.
    """
    if not hasattr(socket, "SO_PEERCRED"):
        return True
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return bool(uid == os.getuid())


def _send(sock: socket.socket, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(data)) + data)


def _receive(sock: socket.socket) -> Any:
    (size,) = _HEADER.unpack(_read(sock, _HEADER.size))
    return pickle.loads(_read(sock, size))  # noqa: S301 - from a process of this user (_same_user), in a private folder


def _read(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        chunks += chunk
    return bytes(chunks)


class _Resident:
    """The resident's state: connected wrappers, the stores it serves (by database file identity), one step at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.step_lock = threading.Lock()
        self.clients = 0
        self.last_seen = time.monotonic()
        self.retiring = False
        self.files: dict[Path, tuple[int, int] | None] = {}
        self.stores: set[str] = set()
        self.sources: dict[str, tuple[int, int] | None] = {}

    def serve(self, conn: socket.socket) -> None:
        with self.lock:
            self.clients += 1
        try:
            with conn:
                _send(conn, "ready")
                while True:
                    try:
                        step, arguments = _receive(conn)
                    except (OSError, EOFError):
                        return
                    _send(conn, self.run(step, arguments))
        except OSError:
            pass  # the wrapper went away mid-reply (killed): nothing to tell it
        finally:
            with self.lock:
                self.clients -= 1
                self.last_seen = time.monotonic()

    def run(self, step: Step, arguments: dict[str, Any]) -> tuple[str, Any, str]:
        printed = io.StringIO()
        with self.step_lock, contextlib.redirect_stderr(printed):
            settings: Settings = arguments["settings"]
            if not (self._same_sources() and self._same_files(settings)):
                self.retiring = True
                return ("unserved", None, "")
            if step == "open_run" and _is_server(settings.tracking_uri):
                from reprise.tracking._client import forget_ready

                forget_ready(settings.tracking_uri)  # a server that went away since is one line, as in a wrapper
            try:
                return ("ok", in_process(step, **arguments), printed.getvalue())
            except RepriseError as exc:
                error: Exception = exc
            except Exception as exc:  # MLflow and SQLAlchemy errors alike reach the wrapper as one line
                error = TrackingError(
                    f"{_name(step)} failed in the resident tracking process: {type(exc).__name__}: {exc}"
                )
            try:
                pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
            except Exception:  # an error whose arguments do not pickle still reaches the wrapper
                error = TrackingError(str(error))
            return ("error", error, printed.getvalue())

    def _same_files(self, settings: Settings) -> bool:
        """The store files are the ones this resident opened (or it opens them now); counts the stores served."""
        self.stores.add(settings.tracking_uri)
        if len(self.stores) > MAX_STORES:
            self.retiring = True
        for uri in (settings.tracking_uri, settings.store_uri):
            path = sqlite_path(uri)
            if path is None:
                continue
            now = _identity(path)
            seen = self.files.setdefault(path, now)
            if seen is None:
                self.files[path] = now
            elif seen != now:
                return False
        return True

    def _same_sources(self) -> bool:
        """No Reprise module this process loaded has changed on disk since (stat of ~100 files: ~1 ms)."""
        for module in list(sys.modules.values()):
            source = getattr(module, "__file__", None)
            if not source or not source.startswith(_PACKAGE):
                continue
            now = _stamp(Path(source))
            if self.sources.setdefault(source, now) != now:
                return False
        return True

    def idle(self) -> bool:
        with self.lock:
            return self.clients == 0 and (self.retiring or time.monotonic() - self.last_seen > IDLE_SECONDS)


def _name(step: Step) -> str:
    return step if isinstance(step, str) else f"{step.__module__}.{step.__qualname__}"


def _is_server(uri: str) -> bool:
    return uri.partition(":")[0].lower() in ("http", "https")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)


def _warm() -> None:
    """Import what the steps need, while the first wrapper is still capturing."""
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from mlflow import MlflowClient  # noqa: F401

    import reprise.store.lineage
    import reprise.tracking._run_store  # noqa: F401


def _main(path: Path) -> int:
    """Serve on ``path`` until idle; exit 0 at once when another resident holds it."""
    os.chdir("/")
    lock_path = path.with_suffix(".lock")
    lock = lock_path.open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0
    if _identity(lock_path) != (os.fstat(lock.fileno()).st_dev, os.fstat(lock.fileno()).st_ino):
        return 0  # a retiring resident removed this lock file after we opened it: the wrapper starts another
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    listener.settimeout(0.5)
    threading.Thread(target=_warm, daemon=True).start()
    resident = _Resident()
    while not resident.idle() and not resident.retiring:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        if not _same_user(conn):
            conn.close()
            continue
        conn.settimeout(None)
        threading.Thread(target=resident.serve, args=(conn,), daemon=True).start()
    # Close the door before letting another resident take the lock, then finish with those still connected.
    listener.close()
    path.unlink(missing_ok=True)
    lock_path.unlink(missing_ok=True)
    log = path.with_suffix(".log")
    if _identity(log) is not None and log.stat().st_size == 0:
        log.unlink()
    lock.close()
    while resident.clients:
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(_main(Path(sys.argv[1])))
