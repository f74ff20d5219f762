"""The data side of a reproduction: the recorded input bytes, restored by hash and verified before anything runs.

The worktree first gets its commit's DVC-tracked data (``dvc checkout`` from the shared cache, so data a command
reads without declaring it is there too). Then each input file of the record's manifest is put in place from, in
order: the worktree itself (files in git or just checked out), the DVC cache (content-addressed by the md5 the
manifest carries), the original project's copy when it still has the recorded hash, and ``dvc pull`` from the
remote. Then the whole manifest is verified; any file that is missing, changed or extra stops the reproduction with
a :class:`~reprise.errors.DataError` naming it. A changed table file whose recorded bytes the DVC cache still holds
is named with the finer verdict (:mod:`reprise.data.tablecheck`): the same table under new bytes, or different
content with the rows and columns that changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, ConfigDict

from reprise.errors import DataError, ManifestMismatchError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from reprise.data.manifest import FileEntry, Manifest

__all__ = ["DataRestore", "original_output_reader", "restore_inputs", "snapshot_outputs", "verify_inputs"]

_READ_LIMIT: Final = 64 << 20


class DataRestore(BaseModel):
    """Where each recorded input came from, and the verification.

    Attributes:
        files: Input files in the record.
        in_checkout: Already right in the checkout: in git or the recorded patch (the project itself when in place).
        from_cache: Out of the DVC cache: checked out with the commit's DVC-tracked data, or copied by hash.
        from_project: Copied from the original project, whose copy still has the recorded hash.
        pulled: Fetched with ``dvc pull``.
        verified: Every file matched the manifest.
        seconds: Wall time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    files: int = 0
    in_checkout: int = 0
    from_cache: int = 0
    from_project: int = 0
    pulled: int = 0
    verified: bool = False
    seconds: float = 0.0


def verify_inputs(manifest: Manifest | None, project: Path, run_id: str) -> DataRestore:
    """Check the inputs in ``project`` against the record (an in-place reproduction restores nothing).

    Raises:
        ManifestMismatchError: A file is missing, changed or extra; the message names them.
    """
    start = time.perf_counter()
    if manifest is None:
        return DataRestore(verified=True)
    _raise_for(manifest, project, run_id, restored=False, cache_root=project)
    count = len(manifest.files)
    return DataRestore(files=count, in_checkout=count, verified=True, seconds=round(time.perf_counter() - start, 3))


def restore_inputs(manifest: Manifest | None, project: Path, source: Path, run_id: str) -> DataRestore:
    """Put the recorded input bytes in ``project`` (the worktree's project) and verify them.

    Args:
        manifest: The record's input manifest (None: the run declared no inputs).
        project: The project folder in the worktree.
        source: The original project (its DVC cache and its files).
        run_id: The run, for messages.

    Returns:
        Where the files came from.

    Raises:
        ManifestMismatchError: Some file could not be had with the recorded hash; the message names each.
        DataError: DVC failed.
    """
    from reprise.data.dvc import cache_files, checkout_all, is_dvc_repo, pull_paths, share_cache

    start = time.perf_counter()
    dvc = is_dvc_repo(project) and is_dvc_repo(source)
    files = manifest.files if manifest is not None else ()
    in_git = {entry.path for entry in files if _matches(project / entry.path, entry)}
    if dvc:
        share_cache(project, source)
        checkout_all(project)  # the commit's DVC-tracked data, undeclared inputs included
    if manifest is None:
        return DataRestore(verified=True, seconds=round(time.perf_counter() - start, 3))
    needed = [e for e in manifest.files if e.path not in in_git and not _matches(project / e.path, e)]
    in_checkout = len(in_git)
    cached = cache_files(source, [e.hashes["md5"] for e in needed if "md5" in e.hashes]) if dvc and needed else {}
    from_cache, from_project, pulled = len(manifest.files) - len(needed) - in_checkout, 0, 0
    missing: list[FileEntry] = []
    for entry in needed:
        target = project / entry.path
        cache_file = cached.get(entry.hashes.get("md5", ""))
        if cache_file is not None and _copy_if_matches(cache_file, target, entry):
            from_cache += 1
        elif _copy_if_matches(source / entry.path, target, entry):
            from_project += 1
        else:
            missing.append(entry)
    if missing and dvc:
        with contextlib.suppress(DataError):  # no remote, or it lacks them too: the error below names the files
            pull_paths(project, [entry.path for entry in missing])
        pulled = sum(1 for entry in missing if _matches(project / entry.path, entry))
    lost = [entry for entry in missing if not _matches(project / entry.path, entry)]
    if lost:
        raise ManifestMismatchError(
            f"cannot restore the recorded inputs of run {run_id}: "
            + "; ".join(_why_lost(entry, source, dvc) for entry in lost[:6])
            + (f"; ... ({len(lost)} files in all)" if len(lost) > 6 else ""),
            hint="bring the recorded bytes back into the DVC cache (dvc pull, or the data's original copy) "
            "and run again",
        )
    _raise_for(manifest, project, run_id, restored=True, cache_root=source)
    return DataRestore(
        files=len(manifest.files),
        in_checkout=in_checkout,
        from_cache=from_cache,
        from_project=from_project,
        pulled=pulled,
        verified=True,
        seconds=round(time.perf_counter() - start, 3),
    )


def snapshot_outputs(manifest: Manifest | None, project: Path) -> dict[str, bytes]:
    """The bytes of the recorded outputs still in ``project`` with their recorded hash, whose contents can be compared.

    Read before an in-place re-run overwrites them.
    """
    from reprise.reproduce._contents import is_comparable

    saved: dict[str, bytes] = {}
    for entry in manifest.files if manifest else ():
        path = project / entry.path
        if is_comparable(entry.path, entry.size) and _matches(path, entry):
            saved[entry.path] = path.read_bytes()
    return saved


def original_output_reader(
    project: Path, source: Path, saved: dict[str, bytes], kept: Callable[[str], bytes | None] | None = None
) -> Callable[[FileEntry], bytes | None]:
    """A reader of original output bytes, each checked against the recorded hash.

    It looks, in order: what was saved before an in-place re-run, the copy the run kept with its record (``kept``),
    the DVC cache, and ``source`` if its file is unchanged.
    """
    from reprise.data.dvc import cache_files, is_dvc_repo

    def read(entry: FileEntry) -> bytes | None:
        if entry.path in saved:
            return saved[entry.path]
        copy = kept(entry.path) if kept is not None else None
        if copy is not None and hashlib.sha256(copy).hexdigest() == entry.hashes.get("sha256"):
            return copy
        if "md5" in entry.hashes and is_dvc_repo(source):
            found = cache_files(source, [entry.hashes["md5"]]).get(entry.hashes["md5"])
            if found is not None and entry.size <= _READ_LIMIT:
                return found.read_bytes()
        candidate = source / entry.path
        if candidate != project / entry.path and entry.size <= _READ_LIMIT and _matches(candidate, entry):
            return candidate.read_bytes()
        return None

    return read


def reproduced_output_reader(project: Path) -> Callable[[FileEntry], bytes | None]:
    """A reader of the re-run's output bytes in ``project``."""

    def read(entry: FileEntry) -> bytes | None:
        path = project / entry.path
        return path.read_bytes() if path.is_file() and entry.size <= _READ_LIMIT else None

    return read


def _raise_for(manifest: Manifest, project: Path, run_id: str, *, restored: bool, cache_root: Path) -> None:
    from reprise.data.tablecheck import changed_tables

    check = manifest.validate(project, cache=not restored, rehash=restored)
    if check.ok:
        return
    verdicts = {change.path: change.summary() for change in changed_tables(cache_root, manifest, project, check)}
    problems = [_with_verdict(line, verdicts) for line in check.problems()]
    shown = "; ".join(problems[:6]) + (f"; ... ({len(problems)} in all)" if len(problems) > 6 else "")
    if restored:
        raise ManifestMismatchError(
            f"cannot restore the recorded inputs of run {run_id}: {shown}",
            hint="the recorded bytes are in neither the checkout, the DVC cache, a DVC remote nor the project: "
            "restore them (dvc pull / dvc checkout) and run again",
        )
    raise ManifestMismatchError(
        f"the inputs of run {run_id} in {project} differ from its record: {shown}",
        hint=f"restore them (dvc checkout), or reproduce in isolation: reprise reproduce {run_id}",
    )


def _with_verdict(problem: str, verdicts: dict[str, str]) -> str:
    """``changed: data/x.csv (sha256 ...)`` followed by the table's verdict, when there is one."""
    kind, _, rest = problem.partition(": ")
    path = rest.split(" (", 1)[0]
    return f"{problem}: {verdicts[path]}" if kind == "changed" and path in verdicts else problem


def _why_lost(entry: FileEntry, source: Path, dvc: bool) -> str:
    where = "the DVC cache or a DVC remote" if dvc else "a DVC cache (the project does not use DVC)"
    state = "has changed since the run" if (source / entry.path).exists() else "is gone"
    return f"{entry.path} (the recorded version is not in {where}, and the project's copy {state})"


def _copy_if_matches(source: Path, target: Path, entry: FileEntry) -> bool:
    if not _matches(source, entry):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    shutil.copyfile(source, target)  # a copy, never a link: the re-run may write to its inputs
    return True


def _matches(path: Path, entry: FileEntry) -> bool:
    """Whether ``path`` is a file with the entry's size and (strongest available) hash."""
    try:
        if not path.is_file() or path.stat().st_size != entry.size:
            return False
    except OSError:
        return False
    algorithm = next((name for name in ("sha256", "sha1", "md5", "sha512") if name in entry.hashes), None)
    if algorithm is None:
        return False
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == entry.hashes[algorithm]
