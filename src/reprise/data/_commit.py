"""Committing a data version's ``.dvc`` file, so the commit a version records brings that version back.

``dvc add`` writes ``<path>.dvc`` and a ``.gitignore`` line next to the data but commits nothing. A version that
recorded ``HEAD`` at that moment would name the commit *before* its ``.dvc`` file: checking that commit out and
running ``dvc checkout`` would not restore it. So Reprise commits exactly those two paths (``git commit -- PATHS``
leaves anything else the user staged as it was), or, when ``HEAD`` already holds them unchanged, records ``HEAD``.
Where git has no identity configured (a fresh machine, the quickstart's new repository), the commit is authored as
``Reprise <data@reprise.invalid>``, as the quickstart commits its own files. A commit git refuses (a merge in
progress, a failing hook) stops the versioning with git's reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from reprise._git import git_available, run_git
from reprise.errors import DataError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["commit_dvc_file"]

#: The author of the commit when git has none configured.
_IDENTITY: Final = ("-c", "user.name=Reprise", "-c", "user.email=data@reprise.invalid")


def commit_dvc_file(root: Path, dvc_file: Path, text: str, version_name: str) -> str | None:
    """Commit ``dvc_file`` (and the ``.gitignore`` beside it) and return the commit holding exactly ``text``.

    Args:
        root: The project (inside a git work tree, or not in git at all).
        dvc_file: The ``.dvc`` file DVC wrote, inside ``root``.
        text: Its content, as the version records it.
        version_name: For the commit message and errors.

    Returns:
        The commit id, or None when the project is not in a git repository (nothing can hold the file).

    Raises:
        DataError: git ignores the ``.dvc`` file, or refused the commit (the message says why).
    """
    if not git_available() or run_git(root, ["rev-parse", "--is-inside-work-tree"], check=False).returncode != 0:
        return None
    rel = dvc_file.relative_to(root).as_posix()
    if run_git(root, ["check-ignore", "-q", "--no-index", "--", rel], check=False).returncode == 0:
        raise DataError(
            f"{rel} is ignored by git, so no commit can hold data version {version_name}",
            hint=f"remove the .gitignore rule that matches {rel}, then version the data again",
        )
    paths = [rel]
    ignore = dvc_file.parent / ".gitignore"
    if ignore.is_file():
        paths.append(ignore.relative_to(root).as_posix())
    _git(root, ["add", "--", *paths], version_name)
    if run_git(root, ["diff", "--cached", "--quiet", "--", *paths], check=False).returncode != 0:
        message = f"reprise: data version {version_name} ({rel})"
        who = [] if run_git(root, ["var", "GIT_COMMITTER_IDENT"], check=False).returncode == 0 else list(_IDENTITY)
        _git(root, [*who, "commit", "-q", "--only", "-m", message, "--", *paths], version_name)
    head = run_git(root, ["rev-parse", "--verify", "-q", "HEAD"], check=False).stdout.decode().strip()
    held = run_git(root, ["show", f"HEAD:./{rel}"], check=False)  # ./: relative to the project, not the repo top
    if not head or held.returncode != 0 or held.stdout.decode() != text:
        raise DataError(
            f"the commit {head[:12] or '(none)'} does not hold {rel} as data version {version_name} wrote it",
            hint=f"git status; commit {rel} yourself, then version the data again under a new name",
        )
    return head


def _git(root: Path, args: list[str], version_name: str) -> None:
    result = run_git(root, args, check=False)
    if result.returncode != 0:
        command = next(arg for arg in args if not arg.startswith("-") and "=" not in arg)
        reason = next((line for line in result.stderr.decode(errors="replace").splitlines() if line.strip()), "")
        raise DataError(
            f"git {command} of the .dvc file of data version {version_name} failed: {reason.strip()[:300]}",
            hint="fix what git reports (a merge in progress, a failing hook), then version the data again",
        )
