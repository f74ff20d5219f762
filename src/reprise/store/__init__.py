"""The Reprise metadata store: versions, and later releases, lineage and reproductions (SQLAlchemy 2).

Embedded default: ``sqlite:///<project>/.reprise/reprise.db`` (WAL, busy timeout, writes in ``BEGIN IMMEDIATE``).
Team: PostgreSQL (``postgresql://...``, psycopg 3, 10 s connect timeout). The store is created and migrated once,
under an inter-process lock (a file lock beside a SQLite database, an advisory lock on PostgreSQL), by ``reprise init``
or on first use; :mod:`reprise.store.db` lends the same lock and checks to MLflow's tracking database. A store that
cannot be reached or read, or a damaged SQLite file, is one :class:`reprise.errors.StoreError` line.
The schema is versioned by :mod:`reprise.store.migrations`;
every table is prefixed ``reprise_`` so the store can share a database with MLflow's.

Schema (head):

* ``reprise_schema_migrations``: one row per applied migration.
* ``reprise_documents``: content-addressed JSON documents (manifests, pipeline specs, unified-version bodies), keyed
  by their ``sha256:`` digest, stored once however many rows point at them.
* ``reprise_data_versions``: named data versions (unique name; DVC md5, manifest digest, git commit, profile).
* ``reprise_lineage_nodes`` / ``reprise_lineage_edges``: a node per thing (a REF, ``kind:key``), an edge per relation
  (upstream to downstream); written only by :func:`reprise.store.lineage.link`, queried both ways by one recursive
  CTE.
* ``reprise_registry_events``: the registry's history (registrations, gates, alias moves, archives, exports).
* ``reprise_reproductions``: every reproduction's target, verdict, causes, report, who and when.
* ``reprise_pipeline_versions`` / ``reprise_pipeline_fits``: semver'd feature pipelines and their stored fits.
* ``reprise_unified_versions``: one name for commit, data, pipelines, runs, model and environment.
* ``reprise_markers``: one-time steps done (the import of the registry events Reprise 0.1 kept in MLflow).

Releases (issue 13) come next, as rows pointing at unified versions, with their events. Ids are opaque strings, never
database sequence numbers, so rows can be exported and merged between stores.
"""
