"""The HTTP surface: routes, error handlers and middleware of the prediction service, built for one signature.

Each route parses its input, makes one call (the batcher, the slot, the metrics) and renders the answer. Failures
are one JSON shape (:class:`~reprise.serve.schemas.Failure`): 400 a body that is not JSON (malformed, not UTF-8,
sent as another content type), 422 a JSON body that fails validation (each field and its problem), 413 body too
large, 404/405 unknown route or method, 503 no model yet, 500 model error (with an error id, the traceback stays in
the server log).
"""

# No `from __future__ import annotations` in this module: FastAPI reads endpoint annotations at runtime, and the
# request models are built per model inside `build_api`, where a string annotation could not be resolved.

import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib.metadata import version as distribution_version
from typing import TYPE_CHECKING, Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from reprise.errors import (
    ConfigError,
    DataError,
    NotFoundError,
    NotReadyError,
    PredictionError,
    RegistryError,
    RepriseError,
    TrackingError,
)
from reprise.serve.batching import Served
from reprise.serve.docs import add_docs, assets_dir
from reprise.serve.metrics import CONTENT_TYPE
from reprise.serve.middleware import BodyLimitMiddleware, MetricsMiddleware
from reprise.serve.schemas import (
    ErrorDetail,
    Failure,
    FieldProblem,
    HealthStatus,
    InputColumn,
    LoadProgress,
    ModelInfo,
    ReloadFailure,
    ServedModel,
    describe_problems,
)

if TYPE_CHECKING:
    from reprise.serve.app import Service

__all__ = ["build_api"]

_LOG = logging.getLogger("reprise.serve")
_JSON: Final = "application/json"
#: HTTP status of each Reprise error family raised while answering.
_STATUS: Final[tuple[tuple[type[RepriseError], int], ...]] = (
    (NotFoundError, 404),
    (DataError, 422),
    (ConfigError, 500),
    (RegistryError, 503),
    (TrackingError, 503),
)
#: Problem kinds that mean the body could not be read as JSON at all (400, not 422).
_MALFORMED: Final = frozenset({"malformed_json", "malformed_body", "not_json"})
_FAILURES: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": Failure, "description": "The body is not JSON (malformed, not UTF-8, or another content type)."},
    413: {"model": Failure, "description": "Request body over the size limit."},
    422: {"model": Failure, "description": "Invalid request: each field and its problem."},
    500: {"model": Failure, "description": "The model failed; `error.error_id` is in the server log."},
    503: {"model": Failure, "description": "No model is loaded yet."},
}
_DESCRIPTION: Final = """Predictions from a registered MLflow model, validated against its signature.

Every prediction carries its provenance: headers `X-Model-Name`, `X-Model-Version` and `X-Run-Id` (and `X-Release`
when a release ships the model), and the `model` object in the body. `GET /model/info` adds the git commit, data
digest, metrics and release; `reprise registry compare` and `reprise reproduce` take it from there."""


def build_api(
    service: "Service", *, lifespan: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]
) -> FastAPI:
    """The FastAPI application for ``service``: routes, handlers and middleware.

    Args:
        service: The served model, its batcher, metrics, options and request schemas.
        lifespan: Starts and stops the service with the server.
    """
    prepared = service.prepared
    schemas = service.schemas
    record_model = schemas.record
    batch_model = schemas.batch
    app = FastAPI(
        title=f"Reprise: {prepared.ref}",
        version=distribution_version("reprise"),
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # replaced by add_docs: the same pages, with their assets served from here, not a CDN
        redoc_url=None,
    )
    app.state.service = service
    add_docs(app, assets_dir())

    @app.get(
        "/health",
        response_model=HealthStatus,
        responses={503: {"model": HealthStatus, "description": "Alive, but no model is answering yet."}},
        summary="Liveness, and readiness once a model is loaded",
    )
    async def health() -> Response:
        status = _health(service)
        return _render(status, 200 if status.ready else 503)

    @app.get(
        "/model/info",
        response_model=ModelInfo,
        responses={503: _FAILURES[503]},
        summary="The model answering, and where it came from",
    )
    async def model_info() -> Response:
        served = _served_now(service)
        return _render(_info(served), 200, _provenance(served))

    @app.post(
        "/predict",
        response_model=schemas.prediction,
        responses=_FAILURES,
        summary="Predict one record",
    )
    async def predict(record: record_model) -> Response:  # type: ignore[valid-type]
        answer = await service.batcher.predict([record.model_dump(by_alias=True)])  # type: ignore[attr-defined]
        predictions = answer.predictions
        probabilities = predictions.probabilities
        body = schemas.prediction(
            prediction=predictions.values[0],
            probabilities=None if probabilities is None else probabilities[0],
            model=_served_model(answer.served),
        )
        return _render(body, 200, _provenance(answer.served))

    @app.post(
        "/predict/batch",
        response_model=schemas.batch_prediction,
        responses=_FAILURES,
        summary="Predict a batch of records",
    )
    async def predict_batch(batch: batch_model) -> Response:  # type: ignore[valid-type]
        rows = [record.model_dump(by_alias=True) for record in batch.records]  # type: ignore[attr-defined]
        answer = await service.batcher.predict(rows)
        predictions = answer.predictions
        body = schemas.batch_prediction(
            predictions=predictions.values,
            probabilities=predictions.probabilities,
            model=_served_model(answer.served),
        )
        return _render(body, 200, _provenance(answer.served))

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus"}},
        summary="Prometheus metrics",
    )
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    _add_handlers(app, service)
    paths = frozenset(getattr(route, "path", "") for route in app.routes)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=service.options.max_body_bytes,
        reject=_too_large,
    )
    app.add_middleware(MetricsMiddleware, metrics=service.metrics, paths=paths)
    return app


def _add_handlers(app: FastAPI, service: "Service") -> None:
    types = service.schemas.types

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = describe_problems(exc.errors(), types)
        return _refuse(problems)

    async def model_failed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PredictionError)
        detail = ErrorDetail(
            code="model-error",
            message="the model failed on this request; the server keeps serving",
            error_id=exc.error_id,
            hint=f"look for {exc.error_id} in the server log",
        )
        assert isinstance(exc.served, Served)
        headers = {**_provenance(exc.served), "X-Error-Id": exc.error_id}
        return _render(Failure(error=detail), 500, headers)

    async def not_ready(request: Request, exc: Exception) -> Response:
        detail = ErrorDetail(code="not-ready", message=str(exc), hint="GET /health says when a model is loaded")
        return _render(Failure(error=detail), 503, {"Retry-After": "1"})

    async def reprise_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RepriseError)
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
        detail = ErrorDetail(code=exc.code, message=exc.message, hint=exc.hint)
        return _render(Failure(error=detail), status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8...): a malformed request
            problem = FieldProblem(field="body", problem=f"cannot read the body: {exc.detail}", type="malformed_body")
            return _refuse([problem])
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, f"http-{exc.status_code}")
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return _render(Failure(error=ErrorDetail(code=code, message=message)), exc.status_code, exc.headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        error_id = uuid.uuid4().hex[:16]
        _LOG.error("unexpected error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
        detail = ErrorDetail(code="internal-error", message="unexpected server error", error_id=error_id)
        return _render(Failure(error=detail), 500, {"X-Error-Id": error_id})

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(PredictionError, model_failed)
    app.add_exception_handler(NotReadyError, not_ready)
    app.add_exception_handler(RepriseError, reprise_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _refuse(problems: list[FieldProblem]) -> Response:
    """400 when the body is not JSON at all, else 422: a JSON body whose fields fail validation."""
    summary = "; ".join(f"{problem.field}: {problem.problem}" for problem in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    malformed = any(problem.type in _MALFORMED for problem in problems)
    code = "malformed-request" if malformed else "invalid-request"
    detail = ErrorDetail(code=code, message=f"{summary}{more}", fields=problems)
    return _render(Failure(error=detail), 400 if malformed else 422)


def _render(body: Any, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body.model_dump_json(), status_code=status, media_type=_JSON, headers=headers)


def _served_now(service: "Service") -> Served:
    served = service.slot.current
    if served is None:
        raise NotReadyError("no model is loaded yet")
    return served


def _served_model(served: Served) -> ServedModel:
    version = served.version
    return ServedModel(name=version.name, version=version.version, alias=version.alias, run_id=version.run_id)


def _provenance(served: Served) -> dict[str, str]:
    version = served.version
    headers = {"X-Model-Name": version.name, "X-Model-Version": str(version.version), "X-Run-Id": version.run_id or ""}
    if version.alias:
        headers["X-Model-Alias"] = version.alias
    if served.release:
        headers["X-Release"] = served.release.removeprefix("release:")
    return headers


def _health(service: "Service") -> HealthStatus:
    status = service.slot.status()
    served = status.served
    error = None
    if status.error is not None and status.error_at is not None:
        error = ReloadFailure(version=status.error_version, message=status.error, at=status.error_at)
    loading = None
    if status.loading_version is not None and status.loading_since is not None:
        elapsed = round((datetime.now(tz=UTC) - status.loading_since).total_seconds(), 1)
        loading = LoadProgress(version=status.loading_version, started_at=status.loading_since, elapsed_seconds=elapsed)
    return HealthStatus(
        status=status.state,  # type: ignore[arg-type]  # one of the four states
        ready=served is not None,
        model=None if served is None else _served_model(served),
        loaded_at=None if served is None else served.loaded_at,
        last_check_at=status.last_check_at,
        last_error=error,
        loading=loading,
        message=_health_message(service, status.state, served, loading),
    )


def _health_message(service: "Service", state: str, served: Served | None, loading: LoadProgress | None) -> str:
    name = service.prepared.version.name
    now = f"; loading v{loading.version} ({loading.elapsed_seconds:.1f} s so far)" if loading is not None else ""
    if served is None:
        if loading is not None:
            return f"loading {name} v{loading.version}: {loading.elapsed_seconds:.1f} s so far"
        return f"no model: {name} failed to load (see last_error)" if state == "failed" else f"starting {name}"
    serving = f"serving {name} v{served.version.version}"
    return f"{serving}{now}" + ("; the last load or check failed (see last_error)" if state == "degraded" else "")


def _info(served: Served) -> ModelInfo:
    version = served.version
    spec = served.model.spec
    classes = served.model.classes
    return ModelInfo(
        name=version.name,
        version=version.version,
        alias=version.alias,
        run_id=version.run_id,
        model_id=version.model_id,
        source=version.source,
        model_type=version.model_type if version.model_type != "unknown" else served.model.model_class or "unknown",
        git_commit=version.git_commit,
        data_digest=version.data_digest,
        metrics=version.metrics,
        inputs=[InputColumn(name=c.name, type=c.type, required=c.required) for c in spec.inputs],
        signature=spec.signature,
        classes=None if classes is None else list(classes),
        flavors=list(spec.flavors),
        release=served.release,
        loaded_at=served.loaded_at,
    )


def _too_large(limit: int) -> bytes:
    problem = FieldProblem(field="body", problem=f"request body is over the limit of {limit} bytes", type="too_large")
    detail = ErrorDetail(
        code="body-too-large",
        message=f"request body is over the limit of {limit} bytes",
        fields=[problem],
        hint="split the records over several requests, or raise --max-body-bytes",
    )
    return Failure(error=detail).model_dump_json().encode()
