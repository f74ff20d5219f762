"""Team mode: a shared MLflow server on PostgreSQL with authentication, and batch work on Dask.

- :mod:`reprise.team.server`: ``reprise team serve``, MLflow's own server on the team's PostgreSQL (runs, registry,
  its users and roles, and the Reprise metadata store in one database), proxied artifacts, basic auth, loopback
  unless told otherwise;
- :mod:`reprise.team.roles`: readers, editors and maintainers as MLflow roles (READ / EDIT / MANAGE); Reprise's
  own maintainer-only actions are checked in :mod:`reprise.versioning.maintainers`;
- :mod:`reprise.team.audit`: ``reprise team audit``, every route family probed as anonymous, a reader and an editor;
- :mod:`reprise.team.batch`: ``reprise reproduce --batch QUERY`` (and ``reprise team verify``), many reproductions
  at once as Dask tasks, the targets selected by :mod:`reprise.reproduce.batch_query`.

Members point a project at the team with ``reprise init --team URL`` (:class:`reprise.project.TeamLink`); their
credentials stay in their environment (``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, ``PGPASSWORD``).
Nothing here imports MLflow: the server is a subprocess and its REST API is spoken over plain HTTP.
"""
