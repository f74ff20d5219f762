"""The git side of a reproduction: a worktree at the recorded commit, and which files differ between two commits."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from reprise._git import last_line, run_git
from reprise.errors import GitError, ReproductionError

__all__ = ["add_worktree", "changed_files", "has_commit", "remove_worktree", "toplevel"]


def toplevel(path: Path) -> Path:
    """The top folder of the git work tree holding ``path``.

    Raises:
        GitError: git is missing.
        ReproductionError: ``path`` is not in a git work tree.
    """
    done = run_git(path, ["rev-parse", "--show-toplevel"], check=False)
    if done.returncode != 0:
        raise ReproductionError(
            f"{path} is not inside a git work tree: a reproduction checks the recorded commit out of it",
            hint=f"git -C {path} status",
        )
    return Path(done.stdout.decode("utf-8", "surrogateescape").strip())


def has_commit(repo: Path, commit: str) -> bool:
    """Whether ``commit`` exists in the repository of ``repo``."""
    return run_git(repo, ["cat-file", "-e", f"{commit}^{{commit}}"], check=False).returncode == 0


def add_worktree(repo: Path, destination: Path, commit: str) -> None:
    """Check ``commit`` out into a new, detached worktree at ``destination``.

    Raises:
        ReproductionError: git refused (the commit is unknown, the folder is not empty...).
    """
    done = run_git(repo, ["worktree", "add", "--detach", "--force", str(destination), commit], check=False)
    if done.returncode != 0:
        raise ReproductionError(
            f"cannot check commit {commit[:12]} out into {destination}: {last_line(done.stderr)}",
            hint=f"git -C {repo} worktree prune, then run again",
        )


def remove_worktree(repo: Path, destination: Path) -> None:
    """Remove a worktree made by :func:`add_worktree` (its files too); never raises."""
    with contextlib.suppress(GitError):
        run_git(repo, ["worktree", "remove", "--force", str(destination)], check=False)
    if destination.exists():
        shutil.rmtree(destination, ignore_errors=True)
    with contextlib.suppress(GitError):
        run_git(repo, ["worktree", "prune"], check=False)


def changed_files(repo: Path, old: str | None, new: str | None) -> list[str]:
    """Files that differ between two commits (empty when either is unknown or they are the same)."""
    if not old or not new or old == new:
        return []
    done = run_git(repo, ["diff", "--name-only", "--no-renames", old, new], check=False)
    names = done.stdout.decode("utf-8", "surrogateescape").splitlines()
    return sorted(name for name in names if name) if done.returncode == 0 else []
