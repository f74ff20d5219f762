"""``reprise serve MODEL@ALIAS``: a prediction service with provenance in every answer."""

from __future__ import annotations

from typing import Annotated

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import emit, say

__all__ = ["register"]


def serve(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Argument(help="MODEL@ALIAS (reloaded when the alias moves), MODEL/VERSION, or MODEL (latest version)."),
    ],
    host: Annotated[str, typer.Option("--host", envvar="REPRISE_SERVE_HOST", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="REPRISE_SERVE_PORT", help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", envvar="REPRISE_SERVE_WORKERS", help="Worker processes (each loads the model).")
    ] = 1,
    reload_interval: Annotated[
        float,
        typer.Option(
            "--reload-interval",
            envvar="REPRISE_SERVE_RELOAD_INTERVAL",
            help="Seconds between checks that the alias moved (0: never reload).",
        ),
    ] = 30.0,
    max_batch_records: Annotated[
        int,
        typer.Option(
            "--max-batch-records", envvar="REPRISE_SERVE_MAX_BATCH_RECORDS", help="Most records per /predict/batch."
        ),
    ] = 1000,
    max_body_bytes: Annotated[
        int,
        typer.Option(
            "--max-body-bytes", envvar="REPRISE_SERVE_MAX_BODY_BYTES", help="Largest request body (413 over)."
        ),
    ] = 1_048_576,
    batching: Annotated[
        bool,
        typer.Option(
            "--batching/--no-batching",
            envvar="REPRISE_SERVE_BATCHING",
            help="Gather concurrent requests into one model call.",
        ),
    ] = True,
    batch_wait_ms: Annotated[
        float,
        typer.Option(
            "--batch-wait-ms",
            envvar="REPRISE_SERVE_BATCH_WAIT_MS",
            help="Longest a request waits for others to join its model call.",
        ),
    ] = 5.0,
    allow_pickle: Annotated[
        bool,
        typer.Option(
            "--allow-pickle",
            envvar="REPRISE_SERVE_ALLOW_PICKLE",
            help="Serve a model whose loading runs code from its files (pickle, cloudpickle): only if you trust it.",
        ),
    ] = False,
    require_attestation: Annotated[
        bool,
        typer.Option(
            "--require-attestation",
            envvar="REPRISE_SERVE_REQUIRE_ATTESTATION",
            help="Load only versions whose files a trusted signed release attestation vouches for (checked on "
            "every load; a refused reload keeps the previous model and shows in /health).",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print where it serves as JSON before starting.")] = False,
) -> None:
    """Serve a registered model over HTTP until Ctrl+C.

    POST /predict (one record keyed by feature name) and /predict/batch ({"records": [...]}) are validated against
    the model signature; every answer carries X-Model-Name, X-Model-Version and X-Run-Id. GET /model/info, /health,
    /metrics (Prometheus) and /docs. Example:

        reprise serve obesity_classifier@champion --port 8000
    """
    from reprise.capture.redact import redact_uri
    from reprise.serve.options import ServeOptions
    from reprise.serve.server import run_server

    options = ServeOptions(
        reload_interval=reload_interval,
        max_batch_records=max_batch_records,
        max_body_bytes=max_body_bytes,
        batching=batching,
        batch_wait_ms=batch_wait_ms,
        allow_pickle=allow_pickle,
        require_attestation=require_attestation,
    )
    settings = settings_for(ctx)
    url = f"http://{host}:{port}"

    def announce() -> None:  # run_server calls it once the model and the port are checked
        emit(
            {
                "model": model,
                "url": url,
                "docs": f"{url}/docs",
                "workers": workers,
                "tracking_uri": redact_uri(settings.tracking_uri),  # the password stays out of terminals and logs
            },
            as_json=json_output,
            render=lambda: say(f"serving {model} on {url} (docs: {url}/docs; Ctrl+C to stop)"),
        )

    run_server(settings, model, host=host, port=port, workers=workers, options=options, announce=announce)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the root app."""
    app.command()(serve)
