"""What a captured run relates to, written to lineage when it ends: its commit, its data, its files, its runs.

* A data version counts as read by the run when every file of the version (by content hash) is among the run's
  inputs under the version's path: the run read those bytes, whatever name it gave them.
* Each file a run read or wrote is an ``artifact:<sha256>`` node named by its path and content (a big folder is one
  node), so the stage that wrote ``data/prepared/train.csv`` and the stage that read those very bytes are joined
  through it, with or without a parent run around them.
* Parent and nested runs are linked (``contains``), so a model registered from a nested candidate run is downstream
  of what its captured parent read.
A store that cannot be written is a warning, not a failed run: the run itself is safe in MLflow. An edge that would
close a cycle (a run that writes back the bytes an upstream run read) is left out with a warning.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import TYPE_CHECKING, Final

from reprise._canonical import canonical_json
from reprise.errors import LineageError, RepriseError
from reprise.store.lineage import Edge, link, node

if TYPE_CHECKING:
    from collections.abc import Iterable

    from reprise.capture.record import RunRecord
    from reprise.config import Settings
    from reprise.data.manifest import Manifest

__all__ = ["record_run_lineage"]

#: A folder with more files than this is one lineage node, not one per file.
_FILES_ONE_BY_ONE: Final = 64


def record_run_lineage(
    settings: Settings, record: RunRecord, *, parent: str | None, children: Iterable[str] = ()
) -> None:
    """Link the run of ``record`` to its commit, the data versions it read, its parent run and its nested runs.

    Args:
        settings: Project settings (their ``store_uri``).
        record: The finished run's record.
        parent: The id of the run it is nested in, if any.
        children: Ids of the runs nested in it.
    """
    from reprise.store.db import open_store

    run = node("run", record.run_id)
    edges: list[Edge] = []
    if record.code.git.commit:
        edges.append(Edge(node("commit", record.code.git.commit), run, "used"))
    if parent:
        edges.append(Edge(node("run", parent), run, "contains"))
    edges.extend(Edge(run, node("run", child), "contains") for child in children)
    read = _artifacts(record.inputs)
    written = _artifacts(record.outputs.manifest) - read
    edges.extend(Edge(node("artifact", digest), run, "used") for digest in sorted(read))
    edges.extend(Edge(run, node("artifact", digest), "produced") for digest in sorted(written))
    try:
        if record.inputs is not None:
            edges.extend(Edge(node("data", name), run, "used") for name in _versions_read(settings, record.inputs))
        engine = open_store(settings)
        try:
            link(engine, edges)
        except LineageError:
            for edge in edges:  # keep every edge that does not close a cycle
                try:
                    link(engine, [edge])
                except LineageError as exc:
                    print(f"reprise: lineage edge left out: {exc.message}", file=sys.stderr)
    except RepriseError as exc:
        print(f"reprise: the run's lineage was not recorded: {exc.message}", file=sys.stderr)


def _artifacts(manifest: Manifest | None) -> set[str]:
    """Content digests of what ``manifest`` holds: one per file, or one per folder of more than a few dozen files.

    Files are grouped by their folder; a folder of up to :data:`_FILES_ONE_BY_ONE` files gives one node per file
    (the sha256 of its path and content), a bigger one a single node over all its files, so a stage over a folder of
    images adds a handful of edges, not one per image. Reader and writer group the same files the same way.
    """
    if manifest is None:
        return set()
    folders: dict[str, list[tuple[str, str]]] = {}
    for entry in manifest.files:
        folders.setdefault(entry.path.rpartition("/")[0], []).append((entry.path, entry.hashes.get("sha256", "")))
    digests: set[str] = set()
    for files in folders.values():
        units = [[file] for file in files] if len(files) <= _FILES_ONE_BY_ONE else [sorted(files)]
        digests.update(hashlib.sha256(canonical_json(unit).encode()).hexdigest() for unit in units)
    return digests


def _versions_read(settings: Settings, inputs: Manifest) -> list[str]:
    from reprise.data.manifest import Manifest
    from reprise.store.data_versions import list_data_versions, read_document
    from reprise.store.db import open_store

    engine = open_store(settings)
    read = {(entry.path, entry.hashes.get("sha256")) for entry in inputs.files}
    names = []
    for row in list_data_versions(engine):
        body = read_document(engine, row.manifest_digest)
        if body is None:
            continue
        version = Manifest.model_validate(json.loads(body))
        hashes = {entry.hashes.get("sha256") for entry in version.files}
        under = {digest for path, digest in read if path == row.path or path.startswith(f"{row.path}/")}
        if hashes and None not in hashes and hashes <= under:
            names.append(row.name)
    return names
