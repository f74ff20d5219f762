"""Byte code for fresh venvs, compiled once and shared by hard links, the way uv shares their source files.

A venv built by uv from its cache has no ``.pyc`` files, so a re-run would compile every module it imports (MLflow,
scikit-learn, SHAP...): 10 to 40 s here, more than everything else a reproduction does; compiling the whole venv up
front (``uv pip install --compile-bytecode``) costs 40 s on two cores. But the sources of every venv uv builds are
hard links to the same files of uv's cache, with the same mtime and size, so one ``.pyc`` per source file serves
them all. This cache keeps those ``.pyc`` files, keyed by the source's sha256 (from the install's ``RECORD``), mtime
and size, and links them into each new venv (about 0.02 ms a file, where creating one costs about 1 ms here).

It is filled from two places: the running interpreter's environment, whose ``.pyc`` for a byte-identical source is
exactly what compiling the venv's copy would give once its header names the venv file's mtime (Python rewrites
``co_filename`` on load); and, after a re-run, the ``.pyc`` files Python wrote for modules compiled on the spot.
Python still checks every header, so a wrong entry could only cost time, never correctness.

Entries nobody has linked for :data:`STALE_DAYS` are deleted, at most once a day, after a reproduction: every
``link()`` (and the venv's deletion) moves an entry's ctime, so ctime says when a reproduction last used it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import struct
import sys
import sysconfig
import threading
import time
from pathlib import Path
from typing import Final

__all__ = ["STALE_DAYS", "BytecodeCache", "BytecodeFill", "donor_site_packages", "site_packages"]

#: An entry no reproduction has linked for this many days is deleted.
STALE_DAYS: Final = 30

_HEADER: Final = struct.Struct("<4sIII")
_MASK: Final = 0xFFFFFFFF
#: Folders nothing imports at run time (test suites are a fifth of a typical ML environment's files).
_SKIP: Final = frozenset({"__pycache__", "tests", "test", "testing"})


def site_packages(venv: Path) -> Path | None:
    """The ``site-packages`` folder of a venv, if there is exactly one."""
    found = sorted((venv / "lib").glob("python*/site-packages"))
    return found[0] if len(found) == 1 else None


def donor_site_packages(python_version: str) -> Path | None:
    """The running interpreter's ``site-packages``, when its Python minor version is ``python_version``'s."""
    if ".".join(python_version.split(".")[:2]) != f"{sys.version_info.major}.{sys.version_info.minor}":
        return None
    path = Path(sysconfig.get_paths()["purelib"])
    return path if path.is_dir() else None


class BytecodeCache:
    """A folder of ``.pyc`` files linked into reproduction venvs.

    Args:
        root: The cache folder (default: ``$XDG_CACHE_HOME/reprise/bytecode``, else ``~/.cache/...``).
    """

    def __init__(self, root: Path | None = None) -> None:
        base = root or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reprise" / "bytecode"
        self.root = base / sys.implementation.cache_tag

    def fill(self, target: Path, donor: Path | None) -> tuple[int, int]:
        """Link cached ``.pyc`` files into ``target`` (a venv's site-packages), borrowing missing ones from ``donor``.

        The modules this process has loaded go first: a captured run loads them too.

        Returns:
            How many were linked from the cache, and how many were borrowed from the donor.
        """
        sources = _record_hashes(target)
        theirs = _record_hashes(donor) if donor is not None else {}
        loaded = _loaded(donor) if donor is not None else set()
        linked = borrowed = 0
        for relative in sorted(sources, key=lambda path: path not in loaded):
            source = target / relative
            try:
                stat = source.stat()
            except OSError:
                continue
            entry = self._entry(sources[relative], stat)
            pyc = Path(importlib.util.cache_from_source(str(source)))
            if entry.is_file():
                linked += _link(entry, pyc)
            elif donor is not None and theirs.get(relative) == sources[relative]:
                code = _donor_code(donor / relative)
                if code is not None and self._store(entry, stat, code):
                    borrowed += _link(entry, pyc)
        return linked, borrowed

    def harvest(self, target: Path) -> int:
        """Keep the ``.pyc`` files Python wrote in ``target`` during a re-run (for modules not cached yet).

        Returns:
            How many were added to the cache.
        """
        added = 0
        for relative, sha in _record_hashes(target).items():
            source = target / relative
            pyc = Path(importlib.util.cache_from_source(str(source)))
            try:
                stat = source.stat()
                entry = self._entry(sha, stat)
                if entry.exists() or not pyc.is_file() or _valid_code(pyc, stat) is None:
                    continue
                entry.parent.mkdir(parents=True, exist_ok=True)
                os.link(pyc, entry)
            except OSError:
                continue
            added += 1
        return added

    def prune(self, used_before: float) -> int:
        """Delete the entries last linked (or made) before ``used_before`` (a Unix time); return how many.

        Safe while other reproductions run: a venv that linked an entry keeps its own name for the file.
        """
        removed = 0
        for entry in self.root.glob("??/*.pyc"):
            try:
                if entry.stat().st_ctime < used_before:
                    entry.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    def prune_daily(self, now: float | None = None) -> int:
        """:meth:`prune` what is :data:`STALE_DAYS` old, unless that was done in the last day; return how many."""
        now = time.time() if now is None else now
        stamp = self.root / ".pruned"
        with contextlib.suppress(OSError):  # no stamp: never pruned
            if now - stamp.stat().st_mtime < 86_400:
                return 0
        removed = self.prune(now - STALE_DAYS * 86_400)
        with contextlib.suppress(OSError):
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.touch()
            os.utime(stamp, (now, now))
        return removed

    def _entry(self, sha: str, stat: os.stat_result) -> Path:
        key = f"{sha}-{int(stat.st_mtime) & _MASK}-{stat.st_size}"
        return self.root / key[:2] / f"{key}.pyc"

    def _store(self, entry: Path, stat: os.stat_result, code: bytes) -> bool:
        header = _HEADER.pack(importlib.util.MAGIC_NUMBER, 0, int(stat.st_mtime) & _MASK, stat.st_size & _MASK)
        temporary = entry.with_name(f".{entry.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(header + code)
            temporary.replace(entry)  # whole or absent: another reproduction may link it at any moment
        except OSError:
            temporary.unlink(missing_ok=True)
            return False
        return True


class BytecodeFill:
    """:meth:`BytecodeCache.fill` on a background thread; on :meth:`finish`, harvest and the daily prune.

    A process may import from the venv meanwhile: a ``.pyc`` is linked in whole, and a module imported before its
    turn is simply compiled by Python as usual.
    """

    def __init__(self, cache: BytecodeCache, target: Path, donor: Path | None) -> None:
        self.cache, self.target = cache, target
        self.linked = self.borrowed = self.harvested = 0
        self.seconds = 0.0
        self._harvested = False
        self._thread = threading.Thread(target=self._fill, args=(donor,), name="reprise-bytecode", daemon=True)

    def start(self) -> BytecodeFill:
        """Start filling; returns self."""
        self._thread.start()
        return self

    def finish(self, *, harvest: bool) -> None:
        """Wait for the fill, then keep what the re-run compiled (when ``harvest``, once)."""
        self._thread.join()
        if harvest and not self._harvested:
            self._harvested = True
            self.harvested = self.cache.harvest(self.target)
            self.cache.prune_daily()

    def _fill(self, donor: Path | None) -> None:
        start = time.perf_counter()
        self.linked, self.borrowed = self.cache.fill(self.target, donor)
        self.seconds = round(time.perf_counter() - start, 3)


def _record_hashes(site: Path) -> dict[str, str]:
    """``relative .py path -> sha256`` from every ``*.dist-info/RECORD`` in ``site``, test folders left out."""
    hashes: dict[str, str] = {}
    for record in site.glob("*.dist-info/RECORD"):
        try:
            lines = record.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            path, _, rest = line.partition(",")
            digest = rest.partition(",")[0]
            if path.endswith(".py") and digest.startswith("sha256=") and not _SKIP & set(path.split("/")[:-1]):
                hashes[path] = digest.removeprefix("sha256=")
    return hashes


def _loaded(site: Path) -> set[str]:
    """Paths, relative to ``site``, of the modules loaded in this process from there."""
    found = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith(".py") and Path(file).is_relative_to(site):
            found.add(Path(file).relative_to(site).as_posix())
    return found


def _donor_code(source: Path) -> bytes | None:
    try:
        stat = source.stat()
    except OSError:
        return None
    return _valid_code(Path(importlib.util.cache_from_source(str(source))), stat)


def _valid_code(pyc: Path, source: os.stat_result) -> bytes | None:
    """The marshalled code of a timestamp ``.pyc`` that is valid for ``source`` (what Python would accept)."""
    try:
        compiled = pyc.read_bytes()
    except OSError:
        return None
    if len(compiled) < _HEADER.size:
        return None
    magic, flags, mtime, size = _HEADER.unpack_from(compiled)
    valid = magic == importlib.util.MAGIC_NUMBER and flags == 0
    valid = valid and mtime == int(source.st_mtime) & _MASK and size == source.st_size & _MASK
    return compiled[_HEADER.size :] if valid else None


def _link(entry: Path, pyc: Path) -> int:
    try:
        pyc.parent.mkdir(exist_ok=True)
        os.link(entry, pyc)  # a new name for the cached file: never a write into uv's hard-linked sources
    except FileExistsError:
        return 0  # Python got there first and wrote its own
    except OSError:
        return 0  # another file system: the module is compiled as usual
    return 1
