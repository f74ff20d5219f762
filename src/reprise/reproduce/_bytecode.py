"""Byte code for a fresh venv, taken from an environment that already compiled the same source files.

A venv built by uv from its cache has no ``.pyc`` files, so the re-run would compile every module it imports
(MLflow, scikit-learn, SHAP...): 10 to 40 s here, more than everything else a reproduction does. Compiling the whole
venv up front (``uv pip install --compile-bytecode``) costs 40 s on two cores. But the running interpreter's
environment usually holds the very same package files, already compiled. For each source file of the venv whose
bytes are identical to the same file of the donor, and whose donor ``.pyc`` is valid for it, this writes a ``.pyc``
with the donor's code and a header for the venv's file: exactly what compiling it would produce (Python rewrites
``co_filename`` on load). Anything that does not match is left for Python to compile as usual, and Python still
checks every header, so a wrong guess costs time, never correctness.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
import sysconfig
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

__all__ = ["BytecodeBorrow", "borrow_bytecode", "donor_site_packages", "site_packages"]

_HEADER: Final = struct.Struct("<4sIII")
_MASK: Final = 0xFFFFFFFF
_WORKERS: Final = 4
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


class BytecodeBorrow:
    """:func:`borrow_bytecode` on a background thread, so it overlaps the re-run instead of delaying it.

    It is safe for a process to import from the venv meanwhile: each ``.pyc`` appears whole (written to a temporary
    name, then renamed), and a module imported before its turn is simply compiled by Python as usual.
    """

    def __init__(self, target: Path, donor: Path) -> None:
        self._result: tuple[int, float] = (0, 0.0)
        self._thread = threading.Thread(target=self._work, args=(target, donor), name="reprise-bytecode", daemon=True)

    def start(self) -> BytecodeBorrow:
        """Start borrowing; returns self."""
        self._thread.start()
        return self

    def join(self) -> tuple[int, float]:
        """Wait for the end; return how many ``.pyc`` files were written and the seconds it took."""
        self._thread.join()
        return self._result

    def _work(self, target: Path, donor: Path) -> None:
        self._result = borrow_bytecode(target, donor)


def borrow_bytecode(target: Path, donor: Path) -> tuple[int, float]:
    """Write ``.pyc`` files into ``target`` for the sources identical to ``donor``'s compiled ones.

    Identity comes from the two installs' ``RECORD`` files (sha256 of every file) where both list a file, else
    from comparing the bytes. Test folders are skipped: nothing imports them at run time. The modules this process
    has loaded (MLflow, SQLAlchemy... what a captured run loads too) go first.

    Args:
        target: The fresh venv's ``site-packages``.
        donor: An environment's ``site-packages`` with compiled byte code (same Python minor version).

    Returns:
        How many ``.pyc`` files were written, and the seconds it took.
    """
    start = time.perf_counter()
    mine, theirs = _records(target), _records(donor)
    loaded = _loaded(donor)
    jobs = []
    for folder, folders, files in os.walk(target):
        folders[:] = [name for name in folders if name not in _SKIP]
        relative = Path(folder).relative_to(target)
        for name in files:
            if name.endswith(".py"):
                key = (relative / name).as_posix()
                known = mine.get(key)
                same = None if known is None or key not in theirs else known == theirs[key]
                if same is not False:
                    jobs.append((key not in loaded, Path(folder), donor / relative, name, same))
    jobs.sort(key=lambda job: job[0])  # stable: loaded modules first, then walk order
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        written = sum(pool.map(lambda job: _borrow(*job[1:]), jobs, chunksize=32))
    return written, round(time.perf_counter() - start, 3)


def _loaded(site: Path) -> set[str]:
    """Paths, relative to ``site``, of the modules loaded in this process from there."""
    found = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith(".py"):
            path = Path(file)
            if path.is_relative_to(site):
                found.add(path.relative_to(site).as_posix())
    return found


def _records(site: Path) -> dict[str, str]:
    """``relative path -> sha256`` from every ``*.dist-info/RECORD`` in ``site``."""
    hashes: dict[str, str] = {}
    for record in site.glob("*.dist-info/RECORD"):
        try:
            lines = record.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            path, _, rest = line.partition(",")
            digest = rest.partition(",")[0]
            if path.endswith(".py") and digest.startswith("sha256="):
                hashes[path] = digest
    return hashes


def _borrow(folder: Path, donor_folder: Path, name: str, same: bool | None) -> bool:
    source, donor_source = folder / name, donor_folder / name
    try:
        stat, donor_stat = source.stat(), donor_source.stat()
    except OSError:
        return False
    donor_pyc = donor_folder / "__pycache__" / f"{name[:-3]}.{sys.implementation.cache_tag}.pyc"
    code = _valid_code(donor_pyc, donor_stat) if stat.st_size == donor_stat.st_size else None
    if code is None or (same is None and not _same_bytes(source, donor_source, stat, donor_stat)):
        return False
    header = _HEADER.pack(importlib.util.MAGIC_NUMBER, 0, int(stat.st_mtime) & _MASK, stat.st_size & _MASK)
    target = folder / "__pycache__" / donor_pyc.name
    try:
        target.parent.mkdir(exist_ok=True)
        # O_EXCL: a new file, never a write through a hard link into uv's cache, nor over a .pyc Python just wrote.
        handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:
        return False
    try:
        os.write(handle, header + code)
    finally:
        os.close(handle)
    return True


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


def _same_bytes(a: Path, b: Path, stat_a: os.stat_result, stat_b: os.stat_result) -> bool:
    if (stat_a.st_ino, stat_a.st_dev) == (stat_b.st_ino, stat_b.st_dev):
        return True
    try:
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False
