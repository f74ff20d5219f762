"""MLflow integration: the one place Reprise talks to the tracking store."""
