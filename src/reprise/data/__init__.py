"""Data identity: hashes, manifests, named data versions (DVC underneath), and what changed between two of them.

``hashing`` (one read per file, in parallel, stat-cached by ``hashcache``), ``manifest`` (files, hashes, one digest),
``verify`` (check files against a saved manifest), ``dvc`` (the only module that imports DVC), ``versions`` (named
versions in the metadata store), ``profile`` (table schemas and drift), ``identity`` (the content identity of a
table, scheme ``reprise-table-v1``), ``tablediff`` and ``tablecheck`` (same table or different content, and which
rows), ``diff`` and ``report`` (data diff, HTML), ``sources`` and ``pull`` (tables pulled from a database, refreshed).
"""
