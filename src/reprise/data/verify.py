"""``verify_manifest``: check files against a saved manifest, answering "nothing changed" without parsing entries.

``Manifest.load(file).validate(path)`` builds every entry (10,000 models for 10,000 files) before it looks at the
disk. When the stat cache recorded this manifest's digest for exactly the files now on disk (same paths, inodes,
sizes, mtimes, ctimes), and it has seen these very manifest bytes pass the full check (structure, version, digest
over the entries) before, the answer is known from the manifest's header fields alone; otherwise the manifest is
loaded, checked and compared file by file. A manifest edited by hand is never answered from its header: its bytes
are new to the cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from reprise.data._files import collect
from reprise.data._integrity import check_declared
from reprise.data.checks import ManifestValidation
from reprise.data.hashcache import stat_fingerprint, tree_key
from reprise.data.manifest import MANIFEST_VERSION, Manifest, resolve_cache
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Callable

    from reprise.data.hashcache import HashCache

__all__ = ["verify_manifest"]

#: The fingerprint of a "manifest bytes checked" entry in the stat cache's trees table (its digest: the manifest's).
_CHECKED: Final = "checked"


def verify_manifest(
    manifest: Path | bytes,
    path: Path | str,
    *,
    rehash: bool = False,
    cache: HashCache | bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> ManifestValidation:
    """Check ``path`` against a saved manifest: what ``Manifest.load(manifest).validate(path)`` gives, sooner.

    When the stat cache knows the files under ``path`` (same paths, inodes, sizes, mtimes and ctimes) and the digest
    it recorded for them is the manifest's, nothing changed: that is answered from the manifest's header fields,
    without building its entries. Otherwise the manifest is loaded (digest checked) and compared file by file.

    Args:
        manifest: The manifest file, or its JSON text (e.g. a document from the metadata store).
        path: The file or folder to check.
        rehash: Re-read every file, ignoring the stat cache.
        cache: The stat cache; True finds the project's, False uses none.
        on_progress: Called as ``on_progress(bytes_done, bytes_total)``.

    Returns:
        Every problem found (``.ok`` when there is none).

    Raises:
        DataError: The manifest cannot be read or is not valid, or a file cannot be read.
    """
    if isinstance(manifest, bytes):
        text = manifest
    else:
        try:
            text = Path(manifest).read_bytes()
        except OSError as exc:
            hint = "reprise data manifest PATH --output FILE"
            raise DataError(f"cannot read manifest {manifest}: {exc.strerror}", hint=hint) from exc
    if not rehash:
        quick = _unchanged(text, Path(path), cache)
        if quick is not None:
            return quick
    loaded = Manifest.from_json(text) if isinstance(manifest, bytes) else Manifest.load(manifest)
    target = Path(path)
    store = resolve_cache(cache, target if target.is_dir() else target.parent)
    if store is not None:
        store.store_tree(_checked_key(text), _CHECKED, loaded.digest)
    return loaded.validate(path, rehash=rehash, cache=cache, on_progress=on_progress)


def _unchanged(text: bytes, target: Path, cache: HashCache | bool) -> ManifestValidation | None:
    """An OK validation when the stat fingerprint under ``target`` maps to the manifest's digest, else None."""
    started = time.perf_counter()
    try:
        raw = json.loads(_without_files(text))
        digest_, paths, checked = raw["digest"], raw["paths"], raw["summary"]["total_files"]
        include, exclude, algorithms = raw["include"], raw["exclude"], raw["algorithms"]
        truncated = raw["summary"].get("truncated", False)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if truncated or raw["manifest_version"] > MANIFEST_VERSION or not target.exists():
        return None
    base, declared = (target, list(paths)) if target.is_dir() else (target.parent, [target.name])
    store = resolve_cache(cache, base)
    if store is None or store.tree_digest(_checked_key(text), _CHECKED) != digest_:
        return None
    check_declared(base, declared)  # the header's types are known good: these bytes passed Manifest.from_json
    found = collect(base, declared, include, exclude)
    if store.tree_digest(tree_key(base, declared, include, exclude, algorithms), stat_fingerprint(found)) != digest_:
        return None
    return ManifestValidation(checked=checked, seconds=time.perf_counter() - started)


def _checked_key(text: bytes) -> str:
    """The stat-cache key under which "these manifest bytes passed Manifest.from_json" is remembered."""
    return "manifest-checked:sha256:" + hashlib.sha256(text).hexdigest()


def _without_files(text: bytes) -> bytes:
    """``text`` with the entries cut out of its ``files`` list when laid out as :meth:`Manifest.save` writes it.

    Parsing 10,000 entries is a third of a warm check. In that layout (two-space indent) the list opens on a line
    ``  "files": [`` and its entries are indented deeper, so the first line ``  ]`` after it closes it; JSON
    strings hold no raw newline, so neither line can occur inside a value. Any other layout (a top-level key line
    inside the cut, say) is returned unchanged.
    """
    opening = text.find(b'\n  "files": [\n')
    if opening < 0:
        return text
    start = opening + len(b'\n  "files": [')
    end = text.find(b"\n  ]", start)
    if end < 0 or text.find(b'\n  "', start, end) >= 0:
        return text
    return text[:start] + text[end:]
