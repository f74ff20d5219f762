"""Manifests: which files, of what size and content, with one digest over all of them.

A manifest lists every file under a path (or several paths, for a run's inputs) with its relative path, size, mtime,
permissions and content hashes, plus a summary (total files and bytes, processing time, throughput). The digest
covers relative paths and content hashes only, sorted, so it depends neither on the order a folder is walked in nor
on mtimes. Hashing goes through :mod:`reprise.data.hashing`: one read per file, in parallel, stat-cached.

Example:
    >>> manifest = Manifest.generate(Path("data"), algorithms=["md5", "sha256"], exclude=["*.tmp"])  # doctest: +SKIP
    >>> manifest.save(Path("data.manifest.json"))                                                    # doctest: +SKIP
    >>> Manifest.load(Path("data.manifest.json")).validate(Path("data")).ok                         # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import stat as stat_module
import time
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from reprise._canonical import digest, write_atomic
from reprise.config import STATE_DIR, find_project
from reprise.data._files import collect, kind_of
from reprise.data._integrity import check_declared, check_structure
from reprise.data.checks import HashMismatch, ManifestDiff, ManifestValidation
from reprise.data.hashcache import HashCache, stat_fingerprint, tree_key
from reprise.data.hashing import DEFAULT_ALGORITHMS, check_algorithms, hash_files, is_settled
from reprise.errors import DataError, NotAProjectError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from reprise.config import Settings
    from reprise.tracking.runs import CapturedRun

__all__ = [
    "FileEntry",
    "MANIFEST_VERSION",
    "Manifest",
    "ManifestSummary",
    "build_manifest",
    "cache_for",
    "human_size",
    "manifest_digest",
    "resolve_cache",
]

MANIFEST_VERSION: Final = 2
#: Preference order when one algorithm is enough (validation, diff): strong and fast first.
_PREFERRED: Final = ("sha256", "blake3", "sha512", "sha1", "md5")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileEntry(_Frozen):
    """One file: its path relative to the manifest base, size, mtime, permissions and content hashes.

    Only ``path`` and ``hashes`` are identity; the rest is there for people reading the manifest.
    """

    path: str
    size: int
    hashes: dict[str, str]
    human_size: str = ""
    mtime: str | None = None
    permissions: str | None = None


class ManifestSummary(_Frozen):
    """Totals and how long hashing took (``processing_time`` in seconds, ``throughput_mb_s`` in MB/s)."""

    total_files: int = 0
    total_size: int = 0
    total_size_human: str = "0 B"
    processing_time: float = 0.0
    throughput_mb_s: float = 0.0
    files_hashed: int = 0
    cache_hits: int = 0
    truncated: bool = False


class Manifest(_Frozen):
    """A set of files and one digest over their paths and contents.

    Attributes:
        manifest_version: Format version of the JSON form.
        root: The path the manifest was made from, as given.
        paths: The declared files or folders, relative to the base entries are named against (``.`` for a folder).
        algorithms: The hash algorithms every entry carries.
        include: Globs a file had to match (empty: all files).
        exclude: Globs that removed files or whole folders.
        max_files: The cap on the number of files, if one was set.
        metadata: Free-form user data (not part of the digest).
        created_at: When the manifest was made (UTC, not part of the digest).
        summary: Totals and timings.
        files: The entries, sorted by path.
        digest: ``sha256:`` over the sorted (path, hashes) pairs.
    """

    manifest_version: int = MANIFEST_VERSION
    root: str = "."
    paths: tuple[str, ...]
    algorithms: tuple[str, ...] = ("sha256",)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_files: int | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    created_at: str | None = None
    summary: ManifestSummary = Field(default_factory=ManifestSummary)
    files: tuple[FileEntry, ...]
    digest: str

    @property
    def total_bytes(self) -> int:
        """Sum of the file sizes."""
        return sum(entry.size for entry in self.files)

    @classmethod
    def generate(
        cls,
        path: Path | str,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        metadata: Mapping[str, JsonValue] | None = None,
        max_files: int | None = None,
        *,
        cache: HashCache | bool = True,
        rehash: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Manifest:
        """Hash every file under ``path`` (a file or a folder) and return its manifest.

        Args:
            path: A file (its entry is named by the file name) or a folder (entries relative to it).
            algorithms: Names among ``md5``, ``sha1``, ``sha256``, ``sha512``, ``blake3``.
            include: Globs a file must match (against its relative path, or its name when the glob has no ``/``).
            exclude: Globs that drop files, or whole folders when a folder matches.
            metadata: Free-form data to keep with the manifest.
            max_files: Keep only the first ``max_files`` files in path order (``summary.truncated`` tells).
            cache: The stat cache to use; True finds the project's (``.reprise/hashcache.db``), False uses none.
            rehash: Read every file even when the cache knows it.
            on_progress: Called as ``on_progress(bytes_done, bytes_total)``.

        Returns:
            The manifest.

        Raises:
            DataError: ``path`` does not exist, a file cannot be read, or an algorithm is unknown.
        """
        target = Path(path)
        if kind_of(str(target)) == "missing":  # a symlink loop or a FIFO is refused here, with its own message
            raise DataError(f"{path} does not exist", hint=f"check the path, e.g. `ls {path}`")
        base, declared = (target, ["."]) if target.is_dir() else (target.parent, [target.name])
        return _build(
            base,
            declared,
            root=Path(path).as_posix(),
            algorithms=algorithms,
            include=include,
            exclude=exclude,
            metadata=metadata,
            max_files=max_files,
            cache=cache,
            rehash=rehash,
            on_progress=on_progress,
        )

    def save(self, path: Path | str) -> Path:
        """Write the manifest as JSON (sorted keys), atomically.

        Args:
            path: The file to write.

        Returns:
            The path written.
        """
        target = Path(path)
        write_atomic(target, json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
        return target

    @classmethod
    def load(cls, path: Path | str) -> Manifest:
        """Read a manifest written by :meth:`save` and check its digest.

        Args:
            path: The JSON file.

        Returns:
            The manifest.

        Raises:
            DataError: The file is missing, is not a manifest, has an unknown version or was edited by hand.
        """
        target = Path(path)
        try:
            return cls.from_json(target.read_bytes())
        except OSError as exc:
            hint = "reprise data manifest PATH --output FILE"
            raise DataError(f"cannot read manifest {path}: {exc.strerror}", hint=hint) from exc
        except DataError as exc:
            raise DataError(f"manifest {path}: {exc.message}", hint=exc.hint) from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse the JSON form and check the version and digest.

        Raises:
            DataError: Not a manifest, an unknown version, entries that contradict the header (an algorithm missing
                from an entry, a path listed twice, totals that do not add up), or a digest that does not match them.
        """
        try:
            manifest = cls.model_validate_json(text)
        except ValidationError as exc:
            try:
                raw: Any = json.loads(text)
            except ValueError:
                raw = None
            version = raw.get("manifest_version") if isinstance(raw, dict) else None
            if isinstance(version, int) and version > MANIFEST_VERSION:
                raise DataError(
                    f"unsupported manifest_version {version} (this Reprise reads up to {MANIFEST_VERSION})",
                    hint="upgrade reprise",
                ) from exc
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(document)"
            raise DataError(
                f"not a Reprise manifest: {where}: {first['msg']}", hint="reprise data manifest PATH --output FILE"
            ) from exc
        if manifest.manifest_version > MANIFEST_VERSION:
            raise DataError(
                f"unsupported manifest_version {manifest.manifest_version} (this Reprise reads {MANIFEST_VERSION})",
                hint="upgrade reprise",
            )
        check_structure(manifest)
        if manifest_digest(manifest.files) != manifest.digest:
            raise DataError("digest does not match the entries (edited by hand?)", hint="generate it again")
        return manifest

    def to_json(self) -> str:
        """The JSON form with sorted keys (what :meth:`save` writes)."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)

    def validate(  # type: ignore[override]  # pydantic's deprecated classmethod of the same name
        self,
        path: Path | str,
        *,
        rehash: bool = False,
        cache: HashCache | bool = True,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> ManifestValidation:
        """Compare the files under ``path`` with this manifest: missing, extra and changed files.

        Args:
            path: The file or folder to check (for a run's manifest: the project root).
            rehash: Re-read every file, ignoring the stat cache (catches a corrupted cache).
            cache: The stat cache; True finds the project's, False uses none.
            on_progress: Called as ``on_progress(bytes_done, bytes_total)``.

        Returns:
            Every problem found (``.ok`` when there is none).

        Raises:
            DataError: A file cannot be read, or a declared relative path of the manifest leads out of ``path``.
        """
        started = time.perf_counter()
        started_ns = time.time_ns()
        target = Path(path)
        base, declared = (target, list(self.paths)) if target.is_dir() else (target.parent, [target.name])
        check_declared(base, declared)
        found = collect(base, declared, self.include, self.exclude) if target.exists() else []
        store = resolve_cache(cache, base)
        tree = tree_key(base, declared, self.include, self.exclude, self.algorithms)
        fingerprint = stat_fingerprint(found)
        whole = not self.summary.truncated
        if whole and store is not None and not rehash and store.tree_digest(tree, fingerprint) == self.digest:
            return ManifestValidation(checked=len(self.files), seconds=time.perf_counter() - started)
        hashed = hash_files(
            [stat for _, stat in found], self.algorithms, cache=store, rehash=rehash, on_progress=on_progress
        )
        actual = {rel: hashes for (rel, _), hashes in zip(found, hashed.hashes, strict=True)}
        current = _digest_pairs(actual.items())
        if store is not None and whole and is_settled((stat for _, stat in found), started_ns):
            store.store_tree(tree, fingerprint, current)
        if whole and current == self.digest:
            return ManifestValidation(
                checked=len(self.files), files_read=hashed.files_read, seconds=time.perf_counter() - started
            )
        on_disk = dict(found)
        expected = {entry.path: entry for entry in self.files}
        algorithm = _pick(self.algorithms)
        mismatched = [
            HashMismatch(
                path=rel,
                algorithm=algorithm,
                expected=entry.hashes[algorithm],
                actual=actual[rel][algorithm],
                expected_size=entry.size,
                actual_size=on_disk[rel].size,
            )
            for rel, entry in expected.items()
            if rel in actual and (entry.hashes != actual[rel] or entry.size != on_disk[rel].size)
        ]
        return ManifestValidation(
            missing=tuple(sorted(rel for rel in expected if rel not in on_disk)),
            extra=() if self.summary.truncated else tuple(sorted(rel for rel in on_disk if rel not in expected)),
            mismatched=tuple(mismatched),
            checked=len(expected),
            files_read=hashed.files_read,
            seconds=time.perf_counter() - started,
        )

    def log_to_mlflow(self, run: str | CapturedRun, *, settings: Settings | None = None) -> None:
        """Log this manifest to an existing MLflow run (what :func:`reprise.log_manifest` does).

        The artifact ``reprise/data/manifest.json``; the metrics ``data_files_count``, ``data_size_bytes`` and
        ``data_processing_time``; the params ``data_path``, ``hash_algorithms`` and ``manifest_version``; the tag
        ``reprise.data_manifest_digest``.

        Args:
            run: The run's id, or the run ``reprise.start_run`` yielded.
            settings: Project settings (default: the run's, else the working directory's).

        Raises:
            NotFoundError: The run does not exist.
            TrackingError: MLflow refused (e.g. the run already has a different ``data_path`` param).
        """
        # The one upward import of data/, declared in pyproject's layers contract: MLflow stays in tracking/.
        from reprise.tracking.data import log_manifest

        log_manifest(self, run, settings=settings)

    def diff(self, other: Manifest) -> ManifestDiff:
        """Files added, removed and changed going from this manifest to ``other``.

        Args:
            other: The newer manifest.

        Returns:
            The differences, by relative path.

        Raises:
            DataError: The two manifests share no hash algorithm.
        """
        common = [name for name in _PREFERRED if name in self.algorithms and name in other.algorithms]
        if not common:
            mine, theirs = ", ".join(self.algorithms), ", ".join(other.algorithms)
            raise DataError(
                f"the manifests share no hash algorithm ({mine} vs {theirs})", hint="generate both with the same --algo"
            )
        algorithm = common[0]
        old = {entry.path: entry.hashes[algorithm] for entry in self.files}
        new = {entry.path: entry.hashes[algorithm] for entry in other.files}
        changed = sorted(path for path in old.keys() & new.keys() if old[path] != new[path])
        return ManifestDiff(
            added=tuple(sorted(new.keys() - old.keys())),
            removed=tuple(sorted(old.keys() - new.keys())),
            changed=tuple(changed),
            unchanged=len(old.keys() & new.keys()) - len(changed),
        )


def build_manifest(
    paths: Sequence[Path | str],
    *,
    base: Path,
    algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
    cache: HashCache | bool = True,
    rehash: bool = False,
) -> Manifest:
    """Hash every file under several ``paths`` (files or folders), named relative to ``base``.

    This is the form a run's input and output manifests take: ``paths`` are what the run declared, ``base`` the
    project root.

    Args:
        paths: Files or folders; relative ones are taken relative to ``base``.
        base: The folder entries are named relative to (normally the project root).
        algorithms: Hash algorithms (default md5 and sha256).
        cache: The stat cache; True finds the project's, False uses none.
        rehash: Read every file even when the cache knows it.

    Returns:
        The manifest.

    Raises:
        DataError: A path does not exist or cannot be read.
    """
    declared: list[str] = []
    for raw in paths:
        path = Path(raw) if Path(raw).is_absolute() else base / raw
        if not path.exists():
            raise DataError(f"input or output path {raw} does not exist", hint=f"create {raw} or fix the path")
        declared.append(_relative(path, base))
    return _build(
        base, sorted(set(declared)), root=".", algorithms=algorithms, cache=cache, rehash=rehash, metadata=None
    )


def manifest_digest(files: Iterable[FileEntry]) -> str:
    """The digest of a set of entries: ``sha256:`` over the (path, hashes) pairs sorted by path.

    Args:
        files: The entries, in any order.

    Returns:
        ``sha256:<hex>`` of the canonical JSON of ``[[path, {algorithm: hex}], ...]``.
    """
    return _digest_pairs((entry.path, entry.hashes) for entry in files)


def _digest_pairs(pairs: Iterable[tuple[str, dict[str, str]]]) -> str:
    listed = [[path, hashes] for path, hashes in pairs]
    listed.sort(key=itemgetter(0))  # paths are unique; itemgetter keeps the sort in C
    return digest(listed)


def human_size(size: float) -> str:
    """Format a byte count with binary units (``1.5 MiB``).

    Args:
        size: Bytes.

    Returns:
        The formatted size.
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def cache_for(path: Path) -> HashCache | None:
    """The stat cache of the project holding ``path`` (``<project>/.reprise/hashcache.db``), if there is one.

    Args:
        path: Any file or folder.

    Returns:
        The project's cache, or None outside a project.
    """
    try:
        root = find_project(path if path.is_dir() else path.parent)
    except (NotAProjectError, OSError):
        return None
    return HashCache(root / STATE_DIR / "hashcache.db")


def resolve_cache(cache: HashCache | bool, base: Path) -> HashCache | None:
    """The stat cache a ``cache=`` argument means: the given one, the project's (True), or none (False).

    Args:
        cache: A cache, True or False.
        base: The folder being hashed (its project owns the cache).

    Returns:
        The cache to use, or None.
    """
    if isinstance(cache, HashCache):
        return cache
    return cache_for(base) if cache and base.exists() else None


def _build(
    base: Path,
    declared: Sequence[str],
    *,
    root: str,
    algorithms: Iterable[str],
    metadata: Mapping[str, JsonValue] | None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_files: int | None = None,
    cache: HashCache | bool = True,
    rehash: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> Manifest:
    names = check_algorithms(algorithms)
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    found = collect(base, declared, include, exclude)
    truncated = max_files is not None and len(found) > max_files
    if max_files is not None:
        found = found[:max_files]
    store = resolve_cache(cache, base)
    started_ns = time.time_ns()
    result = hash_files([stat for _, stat in found], names, cache=store, rehash=rehash, on_progress=on_progress)
    if store is not None and declared == ["."] and not (include or exclude or truncated):
        store.forget(base, (stat.path for _, stat in found))
    # model_construct: these values were just computed here, validating 10,000 of them again costs ~0.1 s.
    entries = tuple(
        FileEntry.model_construct(
            path=rel,
            size=stat.size,
            hashes=hashes,
            human_size=human_size(stat.size),
            mtime=datetime.fromtimestamp(stat.mtime_ns / 1e9, UTC).isoformat(timespec="microseconds"),
            permissions=f"{stat_module.S_IMODE(stat.mode):04o}",
        )
        for (rel, stat), hashes in zip(found, result.hashes, strict=True)
    )
    total = sum(entry.size for entry in entries)
    seconds = max(result.seconds, 1e-9)
    manifest_id = manifest_digest(entries)
    if store is not None and not truncated and is_settled((stat for _, stat in found), started_ns):
        store.store_tree(tree_key(base, declared, include, exclude, names), stat_fingerprint(found), manifest_id)
    return Manifest(
        root=root,
        paths=tuple(declared),
        algorithms=names,
        include=tuple(include),
        exclude=tuple(exclude),
        max_files=max_files,
        metadata=dict(metadata or {}),
        created_at=created_at,
        summary=ManifestSummary(
            total_files=len(entries),
            total_size=total,
            total_size_human=human_size(total),
            processing_time=round(result.seconds, 6),
            throughput_mb_s=round(total / seconds / 1e6, 3),
            files_hashed=result.files_read,
            cache_hits=result.cache_hits,
            truncated=truncated,
        ),
        files=entries,
        digest=manifest_id,
    )


def _pick(algorithms: Sequence[str]) -> str:
    for name in _PREFERRED:
        if name in algorithms:
            return name
    raise DataError("the manifest has no hash algorithm", hint="generate it again")


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()
