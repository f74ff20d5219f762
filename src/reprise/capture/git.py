"""Git capture: the code that ran, as a commit plus the exact uncommitted change.

:func:`capture_git` records the commit, branch and origin of the repository holding a path and, when the work tree
is dirty, one binary-safe patch of everything uncommitted (staged, unstaged and untracked non-ignored files) such
that ``git apply --binary`` of it in a fresh clone at the commit restores the work tree byte for byte.
:func:`apply_patch` does that apply. The user's index is never written: the patch is built in a temporary copy.

Secrets stay out of the patch (:mod:`reprise.capture.redact` is the scanner):

- an untracked file enters the patch only when it is text (no NUL byte in its first 8000 bytes, git's own test), no
  larger than a limit, and credential-like neither by name (``credentials.json``, ``secrets.yaml``, ``.env``,
  ``*.pem``) nor by content (an AWS key, a private key block...). The others, and untracked nested repositories, are
  listed in ``GitState.skipped`` with the reason, never their content. Commit such a file (or track it with DVC) to
  have it reproduced;
- a tracked file's change is the user's code and stays in the patch, but any secret the scanner finds in its *added*
  lines is replaced by ``***`` (line count kept, so the patch still applies), as is every added line of a file with
  a credential-like name (a tracked ``.env``); the file is listed in ``GitState.redacted``. Masking rather than
  refusing: a hard-coded key should not stop the run, and the record says that the patch no longer restores those
  files exactly. Binary changes to tracked files are not scanned.

Git missing or a path outside any repository is recorded as ``available=False`` with the reason, never raised.

Limit: content goes through ``git add``, so files under ``.gitattributes`` conversions (``text``/``eol``, LFS and
other filters) are captured as git would commit them, not as raw work-tree bytes; without such attributes (and with
``core.autocrlf`` forced off here) the round trip is byte-exact, CRLF and binary files included.

Example:
    >>> state = capture_git(Path("."))                   # doctest: +SKIP
    >>> state.commit, state.dirty, state.patch_digest    # doctest: +SKIP
    ('4c7db37c...', True, '9b1f0c...')
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from reprise._git import git_available, run_git
from reprise.capture.redact import (
    REDACTED,
    SECRET_FILE_GLOBS,
    find_secrets,
    is_secret_file,
    redact_text,
    redact_uri,
)
from reprise.errors import CaptureError

# Plain sorted() order, which tests/unit/test_public_api.py checks (ruff's isort-style order differs).
__all__ = [
    "DEFAULT_MAX_UNTRACKED_BYTES",
    "GitState",
    "SECRET_FILE_GLOBS",
    "apply_patch",
    "capture_git",
]

#: Untracked files larger than this stay out of the patch.
DEFAULT_MAX_UNTRACKED_BYTES: Final = 5 * 2**20

# Git's own test for binary content: a NUL byte among the first 8000 bytes.
_BINARY_PROBE: Final = 8000


class GitState(BaseModel):
    """The git side of a run: where the code came from and how the work tree differed from it.

    Attributes:
        available: False when no git state could be read; ``reason`` says why.
        reason: Why git state is unavailable ("git is not installed", "not a git repository", ...).
        root: Absolute path of the work tree's top level.
        commit: Full hash of HEAD; None in a repository without commits.
        branch: Current branch; None when HEAD is detached.
        remote_url: URL of ``origin`` with credentials redacted; None without an origin.
        dirty: The work tree differs from HEAD (staged, unstaged or untracked non-ignored files).
        patch_digest: sha256 hex of :meth:`patch_bytes`; None when there is no patch.
        untracked: Untracked files included in the patch.
        skipped: Untracked files left out of the patch, each as ``"path (reason)"``: a credential-like name, a secret
            in the content (its kind only), binary, too large, or a nested repository.
        redacted: Changed files whose added lines held a secret, each as ``"path (kinds)"``: the patch carries ``***``
            in its place, so it does not restore those files exactly.
        patch: The patch itself; kept out of serialisation (the caller stores it as a separate artifact).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    available: bool
    reason: str | None = None
    root: str | None = None
    commit: str | None = None
    branch: str | None = None
    remote_url: str | None = None
    dirty: bool = False
    patch_digest: str | None = None
    untracked: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    redacted: list[str] = Field(default_factory=list)
    patch: str = Field(default="", exclude=True, repr=False)

    def patch_bytes(self) -> bytes:
        """Return the patch as the exact bytes git produced (what ``patch_digest`` hashes and what to store)."""
        return self.patch.encode("utf-8", "surrogateescape")


def capture_git(path: Path, *, max_untracked_bytes: int = DEFAULT_MAX_UNTRACKED_BYTES) -> GitState:
    """Capture the git state of the repository holding ``path``.

    Uses three git calls on a clean tree and five on a dirty one; the user's index, HEAD and work tree are not
    modified (the patch is staged in a temporary copy of the index).

    Args:
        path: A file or folder inside the work tree.
        max_untracked_bytes: Untracked files above this size are skipped rather than put in the patch (and not read).

    Returns:
        The :class:`GitState`; ``available=False`` with a reason when git or the repository is missing.

    Raises:
        CaptureError: git is there but failed or timed out while reading a repository.

    Example:
        >>> capture_git(Path("/tmp")).reason                 # doctest: +SKIP
        'not a git repository'
    """
    if not git_available():
        return GitState(available=False, reason="git is not installed")
    cwd = path if path.is_dir() else path.parent
    if not cwd.is_dir():
        return GitState(available=False, reason=f"{path} does not exist")
    located = run_git(cwd, ["rev-parse", "--show-toplevel", "--git-path", "index"], check=False)
    if located.returncode != 0:
        return GitState(available=False, reason=_not_available_reason(located.stderr))
    root_text, index_text = located.stdout.decode("utf-8", "surrogateescape").splitlines()[:2]
    root = Path(root_text)
    index = cwd / index_text
    status = run_git(
        root,
        ["--no-optional-locks", "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all"],
    )
    commit, branch, changes, untracked_all = _parse_status(status.stdout)
    remote = run_git(root, ["config", "--get", "remote.origin.url"], check=False)
    remote_url = redact_uri(remote.stdout.decode("utf-8", "surrogateescape").strip()) or None
    base = GitState(available=True, root=str(root), commit=commit, branch=branch, remote_url=remote_url)
    if not changes and not untracked_all:
        return base
    untracked, skipped = _select_untracked(root, untracked_all, max_untracked_bytes)
    patch = b""
    redacted: list[str] = []
    if changes or untracked:
        patch = _build_patch(root, index, commit, [path for path, _ in skipped])
        patch, redacted = _redact_patch(patch)
    return base.model_copy(
        update={
            "dirty": True,
            "untracked": untracked,
            "skipped": [f"{name} ({reason})" for name, reason in skipped],
            "redacted": redacted,
            "patch": patch.decode("utf-8", "surrogateescape"),
            "patch_digest": hashlib.sha256(patch).hexdigest() if patch else None,
        }
    )


def apply_patch(repo: Path, patch: str | bytes) -> None:
    """Apply a patch made by :func:`capture_git` to the work tree of ``repo`` (the index is left alone).

    Args:
        repo: Top level of a work tree checked out at the captured commit.
        patch: :attr:`GitState.patch` or :meth:`GitState.patch_bytes`; empty means nothing to do.

    Raises:
        CaptureError: git is missing or the patch does not apply.

    Example:
        >>> apply_patch(Path("clone"), state.patch)          # doctest: +SKIP
    """
    data = patch.encode("utf-8", "surrogateescape") if isinstance(patch, str) else patch
    if not data:
        return
    result = run_git(repo, ["apply", "--binary", "--whitespace=nowarn", "-"], stdin=data, check=False)
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CaptureError(
            f"the patch does not apply to {repo}: {message[0] if message else 'git apply failed'}",
            hint=f"check out the recorded commit in {repo} first (git -C {repo} checkout <commit>)",
        )


def _not_available_reason(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    if "not a git repository" in text:
        return "not a git repository"
    if "must be run in a work tree" in text:
        return "not a git work tree (bare repository)"
    # e.g. "detected dubious ownership": keep git's own words, they name the fix.
    first = text.splitlines()[0] if text else "git rev-parse failed"
    return first.removeprefix("fatal: ")


def _parse_status(output: bytes) -> tuple[str | None, str | None, bool, list[str]]:
    """Read ``status --porcelain=v2 --branch -z``: commit, branch, tracked changes?, untracked paths."""
    commit = branch = None
    changes = False
    untracked: list[str] = []
    records = output.decode("utf-8", "surrogateescape").split("\0")
    skip_next = False
    for record in records:
        if skip_next:  # the original path of a rename/copy entry
            skip_next = False
            continue
        if record.startswith("# branch.oid "):
            value = record.removeprefix("# branch.oid ")
            commit = None if value == "(initial)" else value
        elif record.startswith("# branch.head "):
            value = record.removeprefix("# branch.head ")
            branch = None if value == "(detached)" else value
        elif record.startswith("? "):
            untracked.append(record[2:])
        elif record[:2] in ("1 ", "u "):
            changes = True
        elif record.startswith("2 "):
            changes = True
            skip_next = True
    return commit, branch, changes, sorted(untracked)


def _select_untracked(root: Path, paths: list[str], limit: int) -> tuple[list[str], list[tuple[str, str]]]:
    included: list[str] = []
    skipped: list[tuple[str, str]] = []
    for path in paths:
        if path.endswith("/"):  # git lists an untracked repository inside the work tree as a folder
            skipped.append((path, "nested git repository"))
        elif is_secret_file(path):
            skipped.append((path, "credential-like name"))
        else:
            reason = _untracked_reason(root / path, limit)
            if reason is None:
                included.append(path)
            else:
                skipped.append((path, reason))
    return included, skipped


def _untracked_reason(path: Path, limit: int) -> str | None:
    """Why an untracked file must stay out of the patch, or None."""
    try:
        data = _read_small(path, limit)
    except FileNotFoundError:
        return None  # vanished since `git status`; git add will notice
    except OSError as exc:
        return f"unreadable: {exc.strerror or type(exc).__name__}"
    if isinstance(data, str):
        return data
    if len(data) > limit:  # grew since lstat
        return f"too large: {len(data)} bytes > {limit}"
    if b"\0" in data[:_BINARY_PROBE]:
        return "binary"
    kinds = sorted({finding.kind for finding in find_secrets(data.decode("utf-8", "surrogateescape"))})
    return f"holds a secret: {', '.join(kinds)}" if kinds else None


def _read_small(path: Path, limit: int) -> bytes | str:
    """What git would store for ``path`` (a link's target, never what it points to), or why it is not read."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return os.fsencode(path.readlink())
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read (git lists none, but paths can change)
        return "not a regular file"
    if info.st_size > limit:
        return f"too large: {info.st_size} bytes > {limit}"
    return path.read_bytes()


def _redact_patch(patch: bytes) -> tuple[bytes, list[str]]:
    """Mask the secrets in the added lines of a patch's text hunks; the files where that happened, with the kinds.

    In a file with a credential-like name (a tracked ``.env``, a staged ``secrets.yaml``) every added line is masked.
    Elsewhere consecutive added lines are scanned together (a PEM block spans lines) and masked line for line. Every
    hunk keeps the line count its header states, so ``git apply`` takes the patch as before.
    """
    lines = patch.decode("utf-8", "surrogateescape").split("\n")
    redacted: dict[str, set[str]] = {}
    current: str | None = None
    in_hunk = False
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("diff --git "):
            current, in_hunk = line.rsplit(" b/", 1)[-1], False
        elif line.startswith("@@ ") and current is not None:
            in_hunk = True
        elif in_hunk and line.startswith("+"):
            end = index
            while end < len(lines) and lines[end].startswith("+"):
                end += 1
            added = "\n".join(text[1:] for text in lines[index:end])
            if current is not None and is_secret_file(current):  # a changed .env or secrets.yaml: every line
                redacted.setdefault(current, set()).add("credential-like name")
                lines[index:end] = [f"+{REDACTED}" if text[1:].strip() else text for text in lines[index:end]]
            elif findings := find_secrets(added):
                redacted.setdefault(current or "?", set()).update(finding.kind for finding in findings)
                lines[index:end] = [f"+{text}" for text in redact_text(added).split("\n")]
            index = end
            continue
        index += 1
    if not redacted:
        return patch, []
    listed = [f"{path} ({', '.join(sorted(kinds))})" for path, kinds in sorted(redacted.items())]
    return "\n".join(lines).encode("utf-8", "surrogateescape"), listed


def _build_patch(root: Path, index: Path, commit: str | None, skipped: list[str]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="reprise-git-") as tmp:
        temp_index = Path(tmp) / "index"
        # Starting from a copy of the user's index keeps its stat cache (git add then re-hashes only changed files)
        # and its staged changes; the copy is what gets written, never the original.
        if index.is_file():
            shutil.copy2(index, temp_index)  # its mtime too: git re-reads "racily clean" entries by it
        env = {"GIT_INDEX_FILE": str(temp_index)}
        pathspecs = "".join(f":(exclude,literal){path}\0" for path in skipped)
        run_git(
            root,
            ["add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"],
            stdin=f".\0{pathspecs}".encode("utf-8", "surrogateescape"),
            env=env,
        )
        diff = ["diff", "--cached", "--binary", "--full-index", "--no-renames", "--no-ext-diff", "--no-textconv"]
        diff += ["--no-color", "--src-prefix=a/", "--dst-prefix=b/"]
        if commit is not None:
            diff.append(commit)  # unborn HEAD: `diff --cached` compares with the empty tree by itself
        return run_git(root, diff, env=env).stdout
