"""The one way Reprise runs git: fixed options, a timeout, no prompt, one error type.

Every module that needs git (capture, reproduction worktrees, project set-up, data versions, the quickstart) calls
:func:`run_git`. Its output does not depend on the user's configuration (no pager, no quoting of non-ASCII names, no
CRLF conversion, fixed diff prefixes), it never waits for a password, and every failure is a
:class:`~reprise.errors.GitError` naming the command, the folder and git's last line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Final

from reprise.errors import GitError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

__all__ = ["git_available", "last_line", "run_git"]

_TIMEOUT: Final = 300.0
#: Options that make git's output independent of the user's configuration: no pager, no quoting of non-ASCII names,
#: no CRLF conversion (a patch must carry the bytes of the work tree), fixed diff prefixes.
_OPTIONS: Final = (
    "--no-pager",
    "-c",
    "core.quotepath=false",
    "-c",
    "core.autocrlf=false",
    "-c",
    "core.safecrlf=false",
    "-c",
    "diff.noprefix=false",
)


def git_available() -> bool:
    """Whether a ``git`` executable is on the PATH."""
    return shutil.which("git") is not None


def run_git(
    cwd: Path,
    args: Sequence[str],
    *,
    check: bool = True,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = _TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git ARGS`` in ``cwd`` and return the finished process (stdout and stderr as bytes).

    Args:
        cwd: The folder to run in.
        args: The git command and its arguments, e.g. ``["rev-parse", "HEAD"]``.
        check: Raise when git exits non-zero (else the caller reads ``returncode``).
        stdin: Bytes for git's standard input.
        env: Variables set on top of this process's environment.
        timeout: Seconds before git is stopped.

    Raises:
        GitError: git is not installed, could not start, took longer than ``timeout``, or (with ``check``) failed.

    Example:
        >>> run_git(Path("."), ["rev-parse", "HEAD"]).stdout.decode().strip()   # doctest: +SKIP
        '1aa40f35...'
    """
    git = shutil.which("git")
    if git is None:
        raise GitError("git is not installed", hint="install git (apt-get install git) and run again")
    environ = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    try:
        done = subprocess.run(
            [git, *_OPTIONS, *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            env=environ,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(
            f"git {args[0]} in {cwd} did not finish within {timeout:.0f} s", hint=f"git -C {cwd} status"
        ) from exc
    except OSError as exc:
        raise GitError(f"cannot run git in {cwd}: {exc.strerror or exc}", hint="check that git is installed") from exc
    if check and done.returncode != 0:
        raise GitError(f"git {args[0]} failed in {cwd}: {last_line(done.stderr)}", hint=f"git -C {cwd} status")
    return done


def last_line(output: bytes) -> str:
    """Git's last non-empty output line, without its ``fatal:``/``error:`` prefix (its most telling line)."""
    lines = [line.strip() for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].removeprefix("fatal: ").removeprefix("error: ") if lines else "no output"
