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
* ``reprise_documents``: content-addressed JSON documents (manifests now; attestations and reports later), keyed by
  their ``sha256:`` digest, stored once however many rows point at them.
* ``reprise_data_versions``: named data versions (unique name; DVC md5, manifest digest, git commit, profile).

Later migrations add ``reprise_unified_versions`` and ``reprise_releases`` (rows pointing at data versions by
``version_id`` and at documents by digest), ``reprise_lineage_nodes`` / ``reprise_lineage_edges`` (a node per
versioned thing, keyed by kind and id) and ``reprise_reproductions``. Ids are opaque hex strings, never database
sequence numbers, so rows can be exported and merged between stores.
"""
