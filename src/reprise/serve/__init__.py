"""``reprise serve``: a FastAPI prediction service for a registered model, with provenance in every answer.

Modules: ``options`` (what can be tuned), ``schemas`` (request and response models built from the model signature),
``loader`` (resolve the alias, load, hot reload), ``batching`` (adaptive micro-batching of concurrent requests),
``metrics`` (Prometheus text), ``routes`` (the HTTP surface), ``app`` (``create_app`` and its lifespan) and
``server`` (uvicorn). Only this package imports FastAPI; it reaches MLflow only through
:mod:`reprise.tracking.serving`.
"""
