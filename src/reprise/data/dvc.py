"""The DVC adapter: the only module in Reprise that imports ``dvc``.

DVC errors are wrapped into :class:`reprise.errors.DataError` here, at the boundary (:func:`_repo`): one line,
DVC's first, and a hint.

Two safety rules hold here. ``add_path`` never lets DVC remove or replace the user's file: the bytes are put in
the cache first (:mod:`reprise.data._cachefiles`) and DVC runs without relinking the work tree. ``restore_output``
checks that a ``.dvc`` text from the metadata store (data, possibly crafted) names only the expected path inside the
project, and that a folder's listing in the cache names only paths inside that folder, before DVC writes anything.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reprise._canonical import write_atomic
from reprise._offline import ensure_offline
from reprise.data._cachefiles import MD5, clean_orphans, put_object
from reprise.data._paths import inside
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = [
    "DvcOutput",
    "DvcStage",
    "add_path",
    "cache_files",
    "checkout_all",
    "init_dvc",
    "is_dvc_repo",
    "pull_paths",
    "read_stage",
    "restore_output",
    "set_default_remote",
    "share_cache",
    "stage_names",
]


@dataclass(frozen=True)
class DvcOutput:
    """What ``dvc add`` recorded for one file or folder.

    Attributes:
        md5: DVC's hash: the md5 of the raw bytes for a file, ``<md5>.dir`` for a folder.
        size: Total bytes.
        nfiles: Number of files (folders only).
        dvc_file: The ``.dvc`` file written next to the data.
        text: That file's content (enough to check the same bytes out again later).
    """

    md5: str
    size: int
    nfiles: int | None
    dvc_file: Path
    text: str


_T = TypeVar("_T")


def is_dvc_repo(root: Path) -> bool:
    """Whether ``root`` already holds a DVC repository (a ``.dvc`` folder)."""
    return (root / ".dvc").is_dir()


def init_dvc(root: Path, *, subdir: bool) -> None:
    """Run ``dvc init`` in ``root`` with analytics and update checks turned off in the repo's config.

    Args:
        root: The folder to initialise.
        subdir: True when ``root`` is below the git top level (DVC's ``--subdir``).

    Raises:
        DataError: DVC refused to initialise.
    """
    ensure_offline()
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        repo = _quietly(lambda: Repo.init(str(root), subdir=subdir))
        try:
            with repo.config.edit() as conf:
                conf["core"]["analytics"] = False
                conf["core"]["check_update"] = False
            if repo.scm is not None and not subdir:
                repo.scm.add([str(root / ".dvc" / "config")])
        finally:
            repo.close()
    except DvcException as exc:
        raise DataError(
            f"dvc init failed in {root}: {_first_line(exc)}", hint=f"run `dvc init` in {root} to see why"
        ) from exc


def set_default_remote(root: Path, name: str, url: str) -> bool:
    """Make ``url`` the DVC remote ``name`` of the repository at ``root`` and its default (``dvc remote add -d``).

    Written to ``.dvc/config`` (committed with the project), so every clone pushes to and pulls from it.

    Args:
        root: The DVC repository.
        name: The remote's name.
        url: A folder or any DVC remote URL (credentials belong in ``.dvc/config.local``, not here).

    Returns:
        Whether the config changed.

    Raises:
        DataError: ``root`` is not a DVC repository or DVC refused the change.
    """
    with _repo(root, f"cannot set the DVC remote {name}", f"dvc remote add -d -f {name} {url}") as repo:
        conf = repo.config.read("repo")
        if conf.get("remote", {}).get(name, {}).get("url") == url and conf.get("core", {}).get("remote") == name:
            return False
        with repo.config.edit("repo") as edit:
            edit["remote"][name] = {"url": url}
            edit["core"]["remote"] = name
        return True


def add_path(root: Path, path: Path, objects: Iterable[tuple[Path, str]] = ()) -> DvcOutput:
    """``dvc add`` one file or folder of the DVC repository at ``root``, never moving or removing the user's files.

    Each of ``objects`` is first copied into the cache (temporary name, md5 checked, rename), so DVC finds the bytes
    there and copies nothing; DVC then runs without relinking, so the work tree is left exactly as it was. A process
    killed at any point leaves the user's files in place; a temporary copy it left in the cache is removed by the
    next call.

    Args:
        root: The DVC repository (the project root).
        path: The file or folder, inside ``root``.
        objects: ``(file, md5)`` of every file under ``path`` (from its manifest).

    Returns:
        What DVC recorded.

    Raises:
        HashMismatchError: A file changed since its md5 was taken.
        DataError: DVC refused (the path is tracked by git, inside another output, outside the repo...).
    """
    rel = path.relative_to(root) if path.is_relative_to(root) else path
    with _repo(root, f"dvc add {rel} failed", f"run `dvc add -v {rel}` to see why") as repo:
        from dvc.output import OutputAlreadyTrackedError

        cache = repo.cache.local
        clean_orphans(Path(cache.path))
        for source, md5 in objects:
            put_object(Path(cache.oid_to_path(_check_oid(md5, str(source)))), source, md5)
        try:
            # relink=False: DVC's relink removes the work-tree file and copies it back from the cache.
            stages = _quietly(lambda: repo.add([str(path)], relink=False))
        except OutputAlreadyTrackedError as exc:
            hint = f"git rm -r --cached {rel} && git commit -m 'stop tracking {rel}', then version it again"
            message = f"{rel} is tracked by git; DVC can only version files git does not track"
            raise DataError(message, hint=hint) from exc
    stage = stages[0]
    out = stage.outs[0]
    dvc_file = Path(stage.path)
    return DvcOutput(
        md5=str(out.hash_info.value),
        size=int(out.meta.size or 0),
        nfiles=out.meta.nfiles,
        dvc_file=dvc_file,
        text=dvc_file.read_text(encoding="utf-8"),
    )


def restore_output(root: Path, dvc_file: Path, text: str, *, target: Path, source: str = "the record") -> None:
    """Write ``dvc_file`` with ``text`` and check its output out of the DVC cache (fetching it if missing).

    ``text`` comes from the metadata store, so it is checked first: it must describe one output, ``target``, by a
    well-formed md5; a folder's listing must name only paths inside it. Modified files in the work tree are
    overwritten: the caller decides whether that is allowed.

    Args:
        root: The DVC repository.
        dvc_file: Where the ``.dvc`` file goes (inside ``root``).
        text: The ``.dvc`` file's content, as ``dvc add`` wrote it.
        target: The file or folder the version records (inside ``root``); the only path DVC may write.
        source: Where ``text`` comes from, for messages (``data version train-v1``).

    Raises:
        DataError: ``text`` names another path or a malformed md5, a folder listing points outside the folder, or
            the bytes are neither in the cache nor on a remote.
    """
    where = f"{source}: {dvc_file.name}"
    root = root.resolve()
    dvc_file = inside(root, dvc_file, what=f"{where}: .dvc file")
    target = inside(root, target, what=f"{where}: output")
    md5 = _check_dvc_text(dvc_file, text, target, where)
    failed = f"cannot restore {dvc_file.name}: the data is not in the DVC cache and no remote has it"
    with _repo(root, failed, "dvc remote add -d <name> <url> && dvc push (on the machine that has the data)") as repo:
        from dvc.exceptions import CheckoutError

        cache = repo.cache.local
        clean_orphans(Path(cache.path))
        _check_listing(Path(cache.oid_to_path(md5)), target)
        write_atomic(dvc_file, text)
        try:
            _quietly(lambda: repo.checkout(targets=[str(dvc_file)], force=True))
        except CheckoutError:
            _quietly(lambda: repo.fetch(targets=[str(dvc_file)]))
            _check_listing(Path(cache.oid_to_path(md5)), target)
            _quietly(lambda: repo.checkout(targets=[str(dvc_file)], force=True))


def cache_files(root: Path, md5s: Iterable[str]) -> dict[str, Path]:
    """The files in the local DVC cache holding the bytes with these md5 hashes (those that are there).

    Args:
        root: The DVC repository.
        md5s: md5 hex digests (the ``md5`` hashes of a manifest's files).

    Returns:
        ``{md5: cache file}`` for the hashes found.

    Raises:
        DataError: A hash is not an md5 (a crafted record must not point the cache elsewhere).
    """
    wanted = {_check_oid(md5, "a manifest entry") for md5 in md5s}
    with _repo(root) as repo:
        paths = {md5: Path(repo.cache.local.oid_to_path(md5)) for md5 in wanted}
    return {md5: path for md5, path in paths.items() if path.is_file()}


@dataclass(frozen=True)
class DvcStage:
    """One stage of a ``dvc.yaml`` as DVC resolves it (``${...}`` interpolated).

    Attributes:
        name: The stage name.
        cmd: The command, interpolated.
        wdir: The folder the command runs in, relative to the repository root (``.`` for the root).
        outs: Output paths (``metrics`` and ``plots`` files included), relative to the repository root.
    """

    name: str
    cmd: str
    wdir: str
    outs: tuple[str, ...]


def share_cache(worktree: Path, main: Path) -> Path:
    """Point the DVC repository in ``worktree`` at the cache of the one in ``main`` (``dvc cache dir --local``).

    A ``git worktree`` does not share the main checkout's DVC cache: without this, ``dvc checkout`` and ``dvc repro``
    in the worktree see an empty cache. The setting goes to the worktree's git-ignored ``.dvc/config.local``.

    Args:
        worktree: The DVC repository in the worktree.
        main: The DVC repository whose cache to use.

    Returns:
        The cache folder now shared.

    Raises:
        DataError: Either folder is not a DVC repository.
    """
    with _repo(main) as source:
        cache_dir = Path(source.cache.local_cache_dir)
    with _repo(worktree) as repo, repo.config.edit("local") as conf:
        conf["cache"]["dir"] = str(cache_dir)
    return cache_dir


def checkout_all(root: Path) -> None:
    """``dvc checkout --force`` of everything the repository at ``root`` tracks, skipping what the cache lacks.

    In a fresh worktree this puts back the DVC-tracked data of the checked-out commit, including data a command
    reads without declaring it.

    Raises:
        DataError: DVC failed for another reason than missing cache entries.
    """
    with _repo(root, f"dvc checkout failed in {root}", f"cd {root} && dvc checkout -v") as repo:
        from dvc.exceptions import CheckoutError

        # CheckoutError: some entries are not in the cache; the caller verifies what it needs.
        with contextlib.suppress(CheckoutError):
            _quietly(lambda: repo.checkout(force=True, allow_missing=True))


def pull_paths(root: Path, paths: Iterable[str]) -> None:
    """``dvc pull`` the outputs holding ``paths`` (relative to ``root``) from the cache or the default remote.

    Args:
        root: The DVC repository.
        paths: Data paths tracked by DVC (``.dvc`` files or ``dvc.lock`` outputs).

    Raises:
        DataError: DVC cannot find or fetch them.
    """
    targets = sorted(set(paths))
    with _repo(root, f"dvc pull of {', '.join(targets)} failed in {root}", f"cd {root} && dvc pull -v") as repo:
        _quietly(lambda: repo.pull(targets=[str(root / path) for path in targets], force=True, allow_missing=True))


def read_stage(root: Path, name: str) -> DvcStage:
    """Read stage ``name`` of the ``dvc.yaml`` in ``root``.

    Args:
        root: The DVC repository.
        name: The stage name (``train``, or ``dvc.yaml:train``).

    Returns:
        The stage, with its command interpolated.

    Raises:
        DataError: There is no such stage.
    """
    with _repo(root, f"no DVC stage '{name}' in {root}", f"cd {root} && dvc stage list") as repo:
        stages = _quietly(lambda: repo.stage.collect(name))
    if len(stages) != 1 or not getattr(stages[0], "cmd", None):
        raise DataError(f"'{name}' is not one DVC stage with a command in {root}", hint=f"cd {root} && dvc stage list")
    stage = stages[0]
    base = Path(root).resolve()
    outs = tuple(Path(out.fs_path).resolve().relative_to(base).as_posix() for out in stage.outs)
    wdir = Path(stage.wdir).resolve().relative_to(base).as_posix()
    cmd = stage.cmd if isinstance(stage.cmd, str) else " && ".join(stage.cmd)
    return DvcStage(name=stage.name, cmd=cmd, wdir=wdir, outs=outs)


def stage_names(root: Path) -> tuple[str, ...]:
    """The names of the stages in ``root``'s ``dvc.yaml``, in file order (empty without one)."""
    if not (root / "dvc.yaml").is_file():
        return ()
    with _repo(root) as repo:
        from dvc.exceptions import DvcException

        try:
            return tuple(stage.name for stage in _quietly(repo.stage.collect) if getattr(stage, "cmd", None))
        except DvcException:
            return ()


@contextlib.contextmanager
def _repo(root: Path, failed: str | None = None, hint: str | None = None) -> Iterator[Any]:
    """The DVC repository at ``root``, closed afterwards; a DVC error inside is a one-line DataError.

    Args:
        root: The repository.
        failed: What failed, for the message (``<failed>: <DVC's first line>``); default: "DVC failed in ROOT".
        hint: The hint (default: how to see DVC's own account).

    Raises:
        DataError: ``root`` is not a DVC repository, or DVC failed inside the block.
    """
    ensure_offline()
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        repo = _quietly(lambda: Repo(str(root)))
    except DvcException as exc:
        raise DataError(f"{root} is not a DVC repository: {_first_line(exc)}", hint=f"reprise init {root}") from exc
    try:
        yield repo
    except DvcException as exc:
        message = f"{failed or f'DVC failed in {root}'}: {_first_line(exc)}"
        raise DataError(message, hint=hint or f"cd {root} && dvc status -v") from exc
    finally:
        repo.close()


def _check_oid(md5: object, where: str) -> str:
    """``md5`` when it is an md5 hex digest (or ``<md5>.dir``): anything else would name another cache path."""
    if not isinstance(md5, str) or not MD5.fullmatch(md5):
        raise DataError(f"{where}: {md5!r} is not an md5 hash", hint="the record was edited or crafted; version again")
    return md5


def _check_dvc_text(dvc_file: Path, text: str, target: Path, where: str) -> str:
    """The md5 of the one output ``text`` describes, after checking that output is ``target``.

    Raises:
        DataError: ``text`` is not a ``.dvc`` file with exactly one output at ``target`` and a well-formed md5.
    """
    from dvc.exceptions import DvcException
    from dvc.utils.serialize import parse_yaml

    try:
        data = parse_yaml(text, str(dvc_file))
    except DvcException as exc:
        raise DataError(f"{where} is not valid YAML: {_first_line(exc)}", hint="version the data again") from exc
    outs = data.get("outs") if isinstance(data, dict) else None
    if isinstance(data, dict) and data.get("wdir", ".") != ".":
        raise DataError(f"{where} sets a wdir; Reprise writes .dvc files without one", hint="version the data again")
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        raise DataError(f"{where} must describe exactly one output", hint="version the data again")
    out = outs[0]
    raw = out.get("path")
    if not isinstance(raw, str):
        raise DataError(f"{where} has an output without a path", hint="version the data again")
    written = inside(dvc_file.parent, raw, what=f"{where}: output")
    if written != target:
        raise DataError(f"{where} names output {raw!r}, not {target.name!r}", hint="version the data again")
    return _check_oid(out.get("md5"), where)


def _check_listing(object_path: Path, target: Path) -> None:
    """Check that the folder listing at ``object_path`` (a ``.dir`` object, when present) names paths in ``target``.

    Raises:
        DataError: An entry is not a relative path that stays inside ``target``.
    """
    if not object_path.name.endswith(".dir") or not object_path.is_file():
        return
    import json

    try:
        entries = json.loads(object_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise DataError(f"the DVC cache object {object_path.name} cannot be read", hint="dvc fetch -f") from exc
    for entry in entries if isinstance(entries, list) else [None]:
        relpath = entry.get("relpath") if isinstance(entry, dict) else None
        if not isinstance(relpath, str) or Path(relpath).is_absolute():
            raise DataError(f"the DVC folder listing {object_path.name} holds a bad entry", hint="dvc fetch -f")
        inside(target, relpath, what=f"the DVC folder listing {object_path.name}: entry")


def _quietly(call: Callable[[], _T]) -> _T:
    """Run a DVC call without its banner lines or its dependencies' deprecation warnings.

    Reprise reports what it did itself; pygtrie (under DVC's index) warns on every ``dvc add`` of a nested path,
    which is DVC's to fix and would turn into errors in a ``-W error`` test run.
    """
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return call()
    finally:
        logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    """DVC's messages run over several lines (advice included); Reprise's errors are one line plus a hint."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
