"""``create_app``: the prediction service for one registered model, as a FastAPI app to run or mount.

The app is built from the model's signature (so ``/docs`` and ``/openapi.json`` show the real request and response
schemas); the model itself loads in the background once the server runs, and reloads when its alias moves.

Example:
    Serve it yourself with uvicorn's factory mode (``uvicorn --factory my_service:app``)::

        from reprise.config import load_settings
        from reprise.serve.app import create_app

        def app():
            return create_app(load_settings(), "obesity_classifier@champion")
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from reprise.errors import ConfigError, MissingExtraError
from reprise.serve.options import ServeOptions

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from reprise.config import Settings
    from reprise.serve.batching import MicroBatcher
    from reprise.serve.loader import ModelSlot, Prepared
    from reprise.serve.metrics import ServiceMetrics
    from reprise.serve.schemas import RequestSchemas

__all__ = ["ENV_MODEL", "ENV_OPTIONS", "ENV_PROJECT", "Service", "create_app", "create_app_from_env", "lifespan"]

#: How ``reprise serve --workers N`` tells each worker process what to serve (see :func:`create_app_from_env`).
ENV_MODEL: Final = "REPRISE_SERVE_MODEL"
ENV_PROJECT: Final = "REPRISE_SERVE_PROJECT"
ENV_OPTIONS: Final = "REPRISE_SERVE_OPTIONS"


@dataclass(frozen=True)
class Service:
    """Everything the routes use: the model slot, the batcher, metrics, options and the request schemas."""

    prepared: Prepared
    options: ServeOptions
    slot: ModelSlot
    batcher: MicroBatcher
    metrics: ServiceMetrics
    schemas: RequestSchemas

    async def start(self) -> None:
        """Start the batcher, then load the model in the background and watch its alias."""
        await self.batcher.start()
        self.slot.start()

    async def stop(self) -> None:
        """Stop watching, finish running model calls, fail what is queued."""
        await self.slot.stop()
        await self.batcher.stop()


def create_app(settings: Settings, model_ref: str, *, options: ServeOptions | None = None) -> FastAPI:
    """Build the prediction service for ``model_ref``.

    The reference is resolved and its signature read now; the model loads once the app runs (``GET /health``
    answers 503 "loading" until then).

    Args:
        settings: The project's settings (where the registry is).
        model_ref: ``name@alias`` (reloaded when the alias moves), ``name/3`` (fixed) or ``name`` (its latest
            version, reloaded when a newer one is registered).
        options: Limits, batching and reload interval (default: :class:`ServeOptions` defaults).

    Returns:
        A FastAPI app: ``/predict``, ``/predict/batch``, ``/model/info``, ``/health``, ``/metrics``, ``/docs``.

    Raises:
        MissingExtraError: FastAPI is not installed.
        NotFoundError: No such model, version or alias.
        RegistryError: The reference is malformed, or the model has no usable signature.

    Example:
        >>> app = create_app(load_settings(), "iris@champion")  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)         # doctest: +SKIP
    """
    try:
        import fastapi  # noqa: F401 - fail early with the install line
    except ImportError as exc:
        raise MissingExtraError("fastapi", "serve") from exc
    from reprise.serve.attested import load_attested
    from reprise.serve.batching import MicroBatcher
    from reprise.serve.loader import ModelSlot, prepare
    from reprise.serve.metrics import ServiceMetrics
    from reprise.serve.routes import build_api
    from reprise.serve.schemas import build_schemas
    from reprise.tracking.serving import load_servable

    chosen = options or ServeOptions()
    prepared = prepare(
        settings, model_ref, allow_pickle=chosen.allow_pickle, require_attestation=chosen.require_attestation
    )
    metrics = ServiceMetrics()
    slot = ModelSlot(
        settings,
        prepared,
        reload_interval=chosen.reload_interval,
        metrics=metrics,
        load=functools.partial(
            load_attested if chosen.require_attestation else load_servable, allow_pickle=chosen.allow_pickle
        ),
        freeze_gc=chosen.freeze_gc,
    )
    batcher = MicroBatcher(
        lambda: slot.current,
        metrics=metrics,
        batching=chosen.batching,
        max_rows=chosen.max_batch_rows,
        max_wait=chosen.batch_wait_ms / 1000,
        threads=chosen.model_threads,
    )
    schemas = build_schemas(prepared.spec, max_batch_records=chosen.max_batch_records)
    service = Service(prepared=prepared, options=chosen, slot=slot, batcher=batcher, metrics=metrics, schemas=schemas)
    return build_api(service, lifespan=lifespan)


def create_app_from_env() -> FastAPI:
    """The app described by ``REPRISE_SERVE_MODEL``, ``REPRISE_SERVE_PROJECT`` and ``REPRISE_SERVE_OPTIONS``.

    This is the uvicorn factory each worker of ``reprise serve --workers N`` calls
    (``reprise.serve.app:create_app_from_env``); ``REPRISE_*`` settings apply as everywhere. Under ``reprise
    serve`` (``REPRISE_SERVE_PARENT_PID`` set) the worker first binds its life to that process's.

    Raises:
        ConfigError: ``REPRISE_SERVE_MODEL`` is not set, or the options are malformed.
    """
    from reprise.config import load_settings
    from reprise.serve.lifeline import die_with_parent

    die_with_parent()

    model_ref = os.environ.get(ENV_MODEL)
    if not model_ref:
        raise ConfigError(f"{ENV_MODEL} is not set", hint=f"export {ENV_MODEL}=my_model@champion")
    project = os.environ.get(ENV_PROJECT)
    options_text = os.environ.get(ENV_OPTIONS)
    options = ServeOptions.from_json(options_text) if options_text else None
    return create_app(load_settings(Path(project) if project else None), model_ref, options=options)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the service (batcher, background load, alias watch) with the server and stop it with the server."""
    service: Service = app.state.service
    await service.start()
    try:
        yield
    finally:
        await service.stop()
