"""The stat cache: unchanged files are never read twice.

``<project>/.reprise/hashcache.db`` (SQLite, WAL, safe between processes) maps an absolute path and its stat key
(inode, size, mtime_ns, ctime_ns) to the hashes computed from its bytes, one column per algorithm. ctime is keyed on
too: resetting mtime by hand (``touch -d``) moves it, so a rewrite that restores the old mtime is still seen.
:func:`reprise.data.hashing.hash_files` never stores a file modified less than two seconds before it was read, so a
change within the timestamp granularity cannot hide either.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from array import array
from typing import TYPE_CHECKING, Final

from reprise._canonical import canonical_json

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

    from reprise.data.hashing import FileStat

__all__ = ["HashCache", "stat_fingerprint", "tree_key"]

#: Same names as reprise.data.hashing.ALGORITHMS (checked there); each is a column.
_COLUMNS: Final = ("blake3", "md5", "sha1", "sha256", "sha512")
_KEY: Final = ("inode", "size", "mtime_ns", "ctime_ns")
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, inode INTEGER NOT NULL, size INTEGER NOT NULL, "
    "mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, " + ", ".join(f"{name} TEXT" for name in _COLUMNS) + ") "
    "WITHOUT ROWID"
)
#: A whole folder at once: the fingerprint of every (path, stat key) under it -> the manifest digest it had.
_TREES: Final = (
    "CREATE TABLE IF NOT EXISTS trees (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, digest TEXT NOT NULL)"
)
#: Upsert: same stat key -> keep the algorithms not computed this time; a new key -> forget them.
_SAME_KEY: Final = (
    "(inode, size, mtime_ns, ctime_ns) = (excluded.inode, excluded.size, excluded.mtime_ns, excluded.ctime_ns)"
)
_UPSERT: Final = (
    "INSERT INTO hashes (path, inode, size, mtime_ns, ctime_ns, blake3, md5, sha1, sha256, sha512) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET "
    "inode = excluded.inode, size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, "
    + ", ".join(
        f"{name} = CASE WHEN {_SAME_KEY} THEN coalesce(excluded.{name}, {name}) ELSE excluded.{name} END"
        for name in _COLUMNS
    )
)
_ERRORS: Final = (sqlite3.Error, UnicodeError)


class HashCache:
    """The stat cache: (path, inode, size, mtime_ns, ctime_ns) -> hashes, in a SQLite file.

    A cache that cannot be read or written (read-only folder, locked for too long, a path that is not UTF-8) only
    costs speed: lookups then miss and writes are skipped, never half-done.

    Args:
        path: The SQLite file, normally ``<project>/.reprise/hashcache.db``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        conn.execute(_TREES)
        return conn

    def lookup(self, files: Sequence[FileStat], algorithms: Sequence[str]) -> dict[str, dict[str, str]]:
        """Return the cached hashes of every file in ``files`` whose stat key is unchanged.

        Args:
            files: The files to look up.
            algorithms: Only entries holding all of these are returned (with just these).

        Returns:
            ``{absolute path: {algorithm: hexdigest}}`` for the hits.
        """
        names = [name for name in algorithms if name in _COLUMNS]
        if not files or len(names) != len(algorithms):
            return {}
        wanted = {stat.path: stat.key for stat in files}
        columns = ", ".join(("path", *_KEY, *names))
        try:
            conn = self._connect()
            try:
                if len(files) == 1:
                    query = f"SELECT {columns} FROM hashes WHERE path = ?"  # noqa: S608  # names are known columns
                    rows = conn.execute(query, (files[0].path,)).fetchall()
                else:
                    query = f"SELECT {columns} FROM hashes WHERE path >= ? AND path < ?"  # noqa: S608
                    rows = conn.execute(query, _prefix_range(wanted)).fetchall()
            finally:
                conn.close()
        except _ERRORS:
            return {}
        hits: dict[str, dict[str, str]] = {}
        for row in rows:
            if wanted.get(row[0]) == row[1:5] and None not in row[5:]:
                hits[row[0]] = dict(zip(names, row[5:], strict=True))
        return hits

    def store(self, entries: Sequence[tuple[FileStat, dict[str, str]]]) -> None:
        """Remember ``entries``, keeping other algorithms cached for the same unchanged file.

        Args:
            entries: Pairs of a file's stat key and its hashes.
        """
        if not entries:
            return
        rows = [(stat.path, *stat.key, *(hashes.get(name) for name in _COLUMNS)) for stat, hashes in entries]
        self._write(lambda conn: conn.executemany(_UPSERT, rows))

    def tree_digest(self, key: str, fingerprint: str) -> str | None:
        """The digest recorded for a selection of files whose stat fingerprint is unchanged, if any.

        Args:
            key: What was selected (folder, declared paths, globs, algorithms).
            fingerprint: A hash over every selected file's relative path and stat key.

        Returns:
            The manifest digest, or None when the files changed or were never recorded.
        """
        try:
            conn = self._connect()
            try:
                row = conn.execute("SELECT fingerprint, digest FROM trees WHERE key = ?", (key,)).fetchone()
            finally:
                conn.close()
        except _ERRORS:
            return None
        return str(row[1]) if row is not None and row[0] == fingerprint else None

    def store_tree(self, key: str, fingerprint: str, digest: str) -> None:
        """Record the digest of a selection of files with this stat fingerprint (see :meth:`tree_digest`).

        Args:
            key: What was selected.
            fingerprint: The stat fingerprint of the files.
            digest: Their manifest digest.
        """
        self._write(
            lambda conn: conn.execute("INSERT OR REPLACE INTO trees VALUES (?, ?, ?)", (key, fingerprint, digest))
        )

    def forget(self, folder: Path, keep: Iterable[str]) -> None:
        """Drop cached entries under ``folder`` that are not in ``keep`` (files that no longer exist).

        Args:
            folder: A folder.
            keep: Absolute paths to keep.
        """
        low = os.path.join(os.path.abspath(folder), "")  # noqa: PTH100, PTH118  # a string bound, not a Path
        keep_set = set(keep)

        def drop(conn: sqlite3.Connection) -> None:
            listed = conn.execute("SELECT path FROM hashes WHERE path >= ? AND path < ?", (low, _successor(low)))
            conn.executemany("DELETE FROM hashes WHERE path = ?", [row for row in listed if row[0] not in keep_set])

        self._write(drop)

    def _write(self, action: Callable[[sqlite3.Connection], object]) -> None:
        try:
            conn = self._connect()
        except _ERRORS:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            action(conn)
            conn.execute("COMMIT")
        except _ERRORS:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            conn.close()


def tree_key(
    base: Path, declared: Sequence[str], include: Sequence[str], exclude: Sequence[str], algorithms: Sequence[str]
) -> str:
    """What a set of files was selected by (folder, declared paths, globs, algorithms): the key of a tree entry."""
    return canonical_json([str(base.resolve()), list(declared), list(include), list(exclude), sorted(algorithms)])


def stat_fingerprint(found: Sequence[tuple[str, FileStat]]) -> str:
    """A hash over every file's relative path and stat key: equal means no file changed, came or went."""
    fingerprint = hashlib.sha256("\0".join([rel for rel, _ in found]).encode("utf-8", "surrogateescape"))
    try:  # size, mtime_ns, ctime_ns, inode as packed int64: a third of the time of formatting them
        fingerprint.update(array("q", [value for _, stat in found for value in stat[1:5]]).tobytes())
    except OverflowError:  # an inode above 2**63 (some network filesystems)
        fingerprint.update(repr([stat[1:5] for _, stat in found]).encode())
    return fingerprint.hexdigest()


def _prefix_range(paths: Iterable[str]) -> tuple[str, str]:
    # Character-wise on purpose: the result bounds an index range scan, it is not a folder.
    prefix = os.path.commonprefix(list(paths))  # noqa: RUF071
    return prefix, _successor(prefix)


def _successor(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix + "\U0010ffff"
