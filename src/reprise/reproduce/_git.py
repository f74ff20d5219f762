"""The git side of a reproduction: a worktree at the recorded commit, and which files differ between two commits."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Final

from reprise.errors import ReproductionError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["add_worktree", "changed_files", "has_commit", "remove_worktree", "toplevel"]

_TIMEOUT: Final = 300.0


def toplevel(path: Path) -> Path:
    """The top folder of the git work tree holding ``path``.

    Raises:
        ReproductionError: git is missing or ``path`` is not in a git work tree.
    """
    done = _git(path, ["rev-parse", "--show-toplevel"], check=False)
    if done.returncode != 0:
        raise ReproductionError(
            f"{path} is not inside a git work tree: a reproduction checks the recorded commit out of it",
            hint=f"git -C {path} status",
        )
    return Path(done.stdout.strip())


def has_commit(repo: Path, commit: str) -> bool:
    """Whether ``commit`` exists in the repository of ``repo``."""
    return _git(repo, ["cat-file", "-e", f"{commit}^{{commit}}"], check=False).returncode == 0


def add_worktree(repo: Path, destination: Path, commit: str) -> None:
    """Check ``commit`` out into a new, detached worktree at ``destination``.

    Raises:
        ReproductionError: git refused (the commit is unknown, the folder is not empty...).
    """
    done = _git(repo, ["worktree", "add", "--detach", "--force", str(destination), commit], check=False)
    if done.returncode != 0:
        raise ReproductionError(
            f"cannot check commit {commit[:12]} out into {destination}: {_last_line(done.stderr)}",
            hint=f"git -C {repo} worktree prune, then run again",
        )


def remove_worktree(repo: Path, destination: Path) -> None:
    """Remove a worktree made by :func:`add_worktree` (its files too); never raises."""
    _git(repo, ["worktree", "remove", "--force", str(destination)], check=False)
    if destination.exists():
        shutil.rmtree(destination, ignore_errors=True)
    _git(repo, ["worktree", "prune"], check=False)


def changed_files(repo: Path, old: str | None, new: str | None) -> list[str]:
    """Files that differ between two commits (empty when either is unknown or they are the same)."""
    if not old or not new or old == new:
        return []
    done = _git(repo, ["diff", "--name-only", "--no-renames", old, new], check=False)
    return sorted(line for line in done.stdout.splitlines() if line) if done.returncode == 0 else []


def _git(cwd: Path, args: Sequence[str], *, check: bool) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    if git is None:
        raise ReproductionError("git is not installed: a reproduction needs it", hint="apt-get install git")
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            [git, "-c", "core.quotepath=false", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env=env,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReproductionError(f"git {args[0]} failed in {cwd}: {exc}", hint=f"git -C {cwd} status") from exc
    if check and done.returncode != 0:
        raise ReproductionError(
            f"git {args[0]} failed in {cwd}: {_last_line(done.stderr)}", hint=f"git -C {cwd} status"
        )
    return done


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1].removeprefix("fatal: ") if lines else "no output"
