"""Team mode: a shared MLflow server on PostgreSQL with authentication, and batch work on Dask."""
