"""The model registry lifecycle on MLflow: register, gate, promote, compare, export, with a full history.

Modules: ``gates`` (parse, read and evaluate quality gates), ``lifecycle`` (register, promote, aliases, archive,
load), ``catalog`` (models and versions as the registry holds them), ``compare`` (compare and best), ``export``
(deployment copies), ``history`` (the event log: who moved what, when), ``moves`` (every alias move: one per-model
lock, the holder read, the events recorded and the alias set inside it), ``resolve`` (a reference's version and
provenance, for serving). Stages are aliases plus tags, never the deprecated MLflow stage API.
"""
