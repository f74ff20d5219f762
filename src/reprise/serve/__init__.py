"""``reprise serve``: a FastAPI prediction service for a registered model, with provenance in every answer.

Modules: ``options`` (what can be tuned), ``schemas`` (request and response models built from the model signature),
``loader`` (resolve the alias, load, hot reload), ``batching`` (adaptive micro-batching of concurrent requests),
``metrics`` (Prometheus text), ``routes`` (the HTTP surface), ``docs`` (``/docs`` and ``/redoc`` with their assets
served locally, no CDN), ``app`` (``create_app`` and its lifespan) and
``server`` (uvicorn), ``lifeline`` (workers die with ``reprise serve``). Only this package imports FastAPI; it reaches
MLflow only through :mod:`reprise.registry.resolve` (which version, and where it came from) and
:mod:`reprise.tracking.serving` (how it is stored, and loading it).
"""
