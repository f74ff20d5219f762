"""Run the prediction service under uvicorn: in this process, or in ``workers`` processes that each load the model.

Example:
    >>> run_server(load_settings(), "iris@champion", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
import socket
from typing import TYPE_CHECKING, Any

from reprise._offline import ensure_offline
from reprise.errors import ConfigError, MissingExtraError
from reprise.serve.app import ENV_MODEL, ENV_OPTIONS, ENV_PROJECT, create_app
from reprise.serve.lifeline import ENV_PARENT
from reprise.serve.options import ServeOptions

if TYPE_CHECKING:
    from collections.abc import Callable

    from reprise.config import Settings

__all__ = ["run_server"]


def run_server(
    settings: Settings,
    model_ref: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    options: ServeOptions | None = None,
    announce: Callable[[], None] | None = None,
) -> None:
    """Serve ``model_ref`` on ``host:port`` until interrupted (SIGINT / SIGTERM stop it cleanly).

    The reference is resolved and the port tried before anything is announced: ``announce`` runs only once both
    are known to be good. With one worker the app is built in this process. With several, each uvicorn worker
    builds its own app (its own model, batcher and alias watch) from ``REPRISE_SERVE_*`` variables through
    :func:`create_app_from_env`. The workers die with this process, even when it is killed with SIGKILL
    (:mod:`reprise.serve.lifeline`).

    Args:
        settings: The project's settings.
        model_ref: ``name@alias``, ``name/3`` or ``name``.
        host: Interface to bind (default loopback only).
        port: TCP port.
        workers: Worker processes.
        options: Limits, batching and reload interval.
        announce: Called once the model reference and the port are checked, just before serving.

    Raises:
        MissingExtraError: FastAPI or uvicorn is not installed.
        ConfigError: ``workers`` or ``port`` is out of range, or nothing can listen on ``host:port``.
        NotFoundError: No such model, version or alias.
        RegistryError: The reference is malformed, or the model has no usable signature.
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingExtraError("uvicorn", "serve") from exc
    if workers < 1:
        raise ConfigError(f"--workers {workers}: need at least one worker", hint="--workers 1")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port", hint="--port 8000")
    ensure_offline()
    chosen = options or ServeOptions()
    common: dict[str, Any] = {"host": host, "port": port, "log_config": _log_config(), "timeout_graceful_shutdown": 10}
    if workers == 1:
        app = create_app(settings, model_ref, options=chosen)
        _check_port(host, port)
        if announce is not None:
            announce()
        uvicorn.run(app, **common)
        return
    from reprise.serve.loader import prepare

    # Fail here, once, with a clear message, rather than in every worker.
    prepare(settings, model_ref, allow_pickle=chosen.allow_pickle, require_attestation=chosen.require_attestation)
    _check_port(host, port)
    if announce is not None:
        announce()
    os.environ[ENV_MODEL] = model_ref
    os.environ[ENV_PROJECT] = str(settings.project_dir)
    os.environ[ENV_OPTIONS] = chosen.to_json()
    os.environ["REPRISE_TRACKING_URI"] = settings.tracking_uri
    # Each worker dies with this process even when it is killed outright (see reprise.serve.lifeline); on SIGINT
    # and SIGTERM uvicorn's supervisor stops them itself.
    os.environ[ENV_PARENT] = str(os.getpid())
    uvicorn.run("reprise.serve.app:create_app_from_env", factory=True, workers=workers, **common)


def _check_port(host: str, port: int) -> None:
    """Bind ``host:port`` once, the way uvicorn will, so a port in use is one clear error before "serving"."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc})",
                hint=f"another program may be serving there: stop it, or pick another port (--port {port + 1})",
            ) from exc


def _log_config() -> dict[str, Any]:
    """Uvicorn's logging, plus the ``reprise.serve`` logger (loads, reloads, model errors) on the same handler."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["reprise"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
