from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from reprise.capture import GitState, apply_patch, capture_git
from reprise.errors import CaptureError


@pytest.fixture(autouse=True)
def _hermetic_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The user's global config (autocrlf, hooks, default branch) must not change what the tests see."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _init(root: Path) -> Path:
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    return root


def _commit(root: Path, message: str = "commit") -> str:
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)
    return _git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = _init(tmp_path / "repo")
    (root / ".gitignore").write_text("*.log\nignored/\n")
    (root / "README.md").write_text("# demo\n")
    (root / "src").mkdir()
    (root / "src" / "model.py").write_text("def f():\n    return 1\n")
    (root / "doomed.txt").write_text("delete me\n")
    (root / "staged-doomed.txt").write_text("git rm me\n")
    (root / "to-rename.txt").write_text("rename me\n" * 20)
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "windows.txt").write_bytes(b"line one\r\nline two\r\n")
    (root / "weights.bin").write_bytes(bytes(range(256)) * 4)
    _commit(root, "init")
    return root


def _make_dirty(root: Path) -> None:
    (root / "README.md").write_text("# demo\n\nmodified, unstaged\n")
    (root / "src" / "model.py").write_text("def f():\n    return 2\n")
    _git(root, "add", "src/model.py")
    (root / "src" / "model.py").write_text("def f():\n    return 3  # staged, then changed again\n")
    (root / "doomed.txt").unlink()
    _git(root, "rm", "-q", "staged-doomed.txt")
    _git(root, "mv", "to-rename.txt", "renamed.txt")
    (root / "run.sh").chmod(0o755)
    (root / "windows.txt").write_bytes(b"line one\r\nline 2\r\nline three\r\n")
    (root / "weights.bin").write_bytes(bytes(reversed(range(256))) * 4)
    (root / "new note.txt").write_text("untracked text with a space in the name\n")
    (root / "données").mkdir()
    (root / "données" / "café ☕.txt").write_text("unicode name\n")
    (root / "blob.dat").write_bytes(bytes(range(256)) + b"\x00\xff" * 100)
    (root / "crlf-new.txt").write_bytes(b"a\r\nb\r\nno newline at end")
    (root / "staged-new.txt").write_text("added to the index\n")
    _git(root, "add", "staged-new.txt")
    (root / "link").symlink_to("README.md")
    (root / "debug.log").write_text("ignored\n")
    (root / "ignored").mkdir()
    (root / "ignored" / "cache.bin").write_bytes(b"\x00" * 10)


def _worktree_files(root: Path) -> dict[str, tuple[str, bytes, bool]]:
    """Every file under root except .git: kind, content (or link target) and executable bit."""
    files: dict[str, tuple[str, bytes, bool]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                files[rel] = ("link", os.readlink(path).encode(), False)
            else:
                executable = bool(path.stat().st_mode & stat.S_IXUSR)
                files[rel] = ("file", path.read_bytes(), executable)
    return files


def _visible_files(root: Path) -> dict[str, tuple[str, bytes, bool]]:
    """The work tree minus ignored files: what a restored clone must hold."""
    listed = set(_git(root, "ls-files", "-co", "--exclude-standard", "-z").split("\0")) - {""}
    return {rel: value for rel, value in _worktree_files(root).items() if rel in listed}


def _git_snapshot(root: Path) -> tuple[bytes, str, str]:
    return (
        (root / ".git" / "index").read_bytes(),
        _git(root, "rev-parse", "HEAD"),
        _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all"),
    )


def _clone_at(origin: Path, commit: str, target: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(origin), str(target)], check=True, capture_output=True)
    _git(target, "checkout", "-q", "--detach", commit)
    return target


def test_dirty_tree_round_trips_through_a_fresh_clone(repo: Path, tmp_path: Path) -> None:
    _make_dirty(repo)
    _git(repo, "status")  # let git refresh its own index first; from here on the index must not change
    before = _git_snapshot(repo)

    state = capture_git(repo)

    assert _git_snapshot(repo) == before
    assert state.available
    assert state.dirty
    assert state.root == str(repo)
    assert state.branch == "main"
    assert state.commit == _git(repo, "rev-parse", "HEAD").strip()
    assert state.patch_digest == hashlib.sha256(state.patch_bytes()).hexdigest()
    assert state.untracked == sorted(["new note.txt", "données/café ☕.txt", "crlf-new.txt", "link"])
    assert state.skipped == ["blob.dat (binary)"]  # an untracked binary cannot be scanned for secrets
    assert state.redacted == []
    assert "debug.log" not in state.patch
    assert "ignored/cache.bin" not in state.patch
    assert "blob.dat" not in state.patch

    clone = _clone_at(repo, state.commit, tmp_path / "clone")
    apply_patch(clone, state.patch)
    restored, original = _worktree_files(clone), _visible_files(repo)
    del original["blob.dat"]
    assert sorted(restored) == sorted(original)
    for rel, value in original.items():
        assert restored[rel] == value, rel


def test_patch_bytes_round_trip_as_well(repo: Path, tmp_path: Path) -> None:
    (repo / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    state = capture_git(repo)
    assert state.commit is not None
    clone = _clone_at(repo, state.commit, tmp_path / "clone")
    apply_patch(clone, state.patch_bytes())
    assert (clone / "latin1.txt").read_bytes() == "café\n".encode("latin-1")


def test_clean_repo(repo: Path) -> None:
    state = capture_git(repo)
    assert state.available
    assert not state.dirty
    assert state.patch_digest is None
    assert state.patch == ""
    assert state.untracked == []


def test_patch_is_kept_out_of_serialization(repo: Path) -> None:
    (repo / "README.md").write_text("changed\n")
    state = capture_git(repo)
    assert state.patch
    assert "patch" not in state.model_dump()
    assert "changed" not in state.model_dump_json()
    assert "changed" not in repr(state)
    assert GitState.model_validate_json(state.model_dump_json()).patch_digest == state.patch_digest


def test_subdirectory_and_file_paths_find_the_root(repo: Path) -> None:
    assert capture_git(repo / "src").root == str(repo)
    assert capture_git(repo / "src" / "model.py").root == str(repo)


def test_dirty_capture_from_a_subdirectory_covers_the_whole_tree(repo: Path, tmp_path: Path) -> None:
    (repo / "README.md").write_text("top-level change\n")
    (repo / "src" / "new.py").write_text("x = 1\n")
    state = capture_git(repo / "src")
    assert state.untracked == ["src/new.py"]
    assert state.commit is not None
    clone = _clone_at(repo, state.commit, tmp_path / "clone")
    apply_patch(clone, state.patch)
    assert _worktree_files(clone) == _visible_files(repo)


def test_nested_repository_is_skipped(repo: Path) -> None:
    _init(repo / "vendor" / "lib")
    (repo / "vendor" / "lib" / "code.py").write_text("nested\n")
    state = capture_git(repo)
    assert state.skipped == ["vendor/lib/ (nested git repository)"]
    assert "code.py" not in state.patch


def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    state = capture_git(plain)
    assert not state.available
    assert state.reason == "not a git repository"
    assert state.commit is None


def test_missing_path(tmp_path: Path) -> None:
    state = capture_git(tmp_path / "nowhere" / "at-all")
    assert not state.available
    assert state.reason is not None


def test_git_not_installed(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    state = capture_git(repo)
    assert not state.available
    assert state.reason == "git is not installed"
    with pytest.raises(CaptureError, match="git is not installed"):
        apply_patch(repo, "diff --git a/x b/x\n")


def test_unborn_repository(tmp_path: Path) -> None:
    root = _init(tmp_path / "unborn")
    assert capture_git(root).model_dump(include={"available", "commit", "branch", "dirty"}) == {
        "available": True,
        "commit": None,
        "branch": "main",
        "dirty": False,
    }
    (root / "staged.txt").write_text("staged\n")
    (root / "staged.bin").write_bytes(b"\x00\x01\x02")
    _git(root, "add", "staged.txt", "staged.bin")
    (root / "untracked.txt").write_text("untracked\n")
    state = capture_git(root)
    assert state.commit is None
    assert state.dirty
    assert state.untracked == ["untracked.txt"]
    target = _init(tmp_path / "target")
    apply_patch(target, state.patch)
    assert (target / "staged.txt").read_text() == "staged\n"
    assert (target / "staged.bin").read_bytes() == b"\x00\x01\x02"
    assert (target / "untracked.txt").read_text() == "untracked\n"


def test_detached_head(repo: Path) -> None:
    first = _git(repo, "rev-parse", "HEAD").strip()
    (repo / "README.md").write_text("second\n")
    _commit(repo, "second")
    _git(repo, "checkout", "-q", "--detach", first)
    state = capture_git(repo)
    assert state.branch is None
    assert state.commit == first
    assert not state.dirty


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:tok3n-planted@example.com/o/r.git", "https://user:***@example.com/o/r.git"),
        ("https://ghp_tok3nplanted@github.com/o/r.git", "https://***@github.com/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
    ],
    ids=["user-password", "token", "scp-ssh"],
)
def test_remote_url_credentials_are_stripped(repo: Path, url: str, expected: str) -> None:
    _git(repo, "remote", "add", "origin", url)
    state = capture_git(repo)
    assert state.remote_url == expected
    assert "planted" not in state.model_dump_json()


def test_no_remote(repo: Path) -> None:
    assert capture_git(repo).remote_url is None


def test_secret_looking_untracked_files_are_skipped(repo: Path) -> None:
    (repo / ".env").write_text("API_TOKEN=env-planted-secret\n")
    (repo / "keys").mkdir()
    (repo / "keys" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY----- rsa-planted\n")
    (repo / "keys" / "server.pem").write_text("pem-planted\n")
    (repo / "ok.txt").write_text("fine\n")
    state = capture_git(repo)
    assert state.dirty
    assert state.untracked == ["ok.txt"]
    assert state.skipped == [
        ".env (credential-like name)",
        "keys/id_rsa (credential-like name)",
        "keys/server.pem (credential-like name)",
    ]
    assert "planted" not in state.patch
    assert ".env" not in state.patch


def test_only_skipped_files_means_dirty_without_a_patch(repo: Path) -> None:
    (repo / ".env").write_text("SECRET=x\n")
    state = capture_git(repo)
    assert state.dirty
    assert state.patch == ""
    assert state.patch_digest is None
    assert state.skipped == [".env (credential-like name)"]


def test_oversized_untracked_file_is_skipped(repo: Path) -> None:
    (repo / "big.bin").write_bytes(b"\x01" * 2048)
    (repo / "small.bin").write_bytes(b"\x01" * 16)
    state = capture_git(repo, max_untracked_bytes=1024)
    assert state.untracked == ["small.bin"]
    assert state.skipped == ["big.bin (too large: 2048 bytes > 1024)"]
    assert "big.bin" not in state.patch


def test_default_limit_skips_files_over_5_mib(repo: Path) -> None:
    (repo / "huge.bin").write_bytes(b"\x00" * (5 * 2**20 + 1))
    state = capture_git(repo)
    assert [entry.split(" ")[0] for entry in state.skipped] == ["huge.bin"]


def test_patch_that_does_not_apply_is_a_capture_error(repo: Path, tmp_path: Path) -> None:
    (repo / "README.md").write_text("captured change\n")
    state = capture_git(repo)
    other = _init(tmp_path / "other")
    (other / "README.md").write_text("something else entirely\n")
    with pytest.raises(CaptureError, match="does not apply") as info:
        apply_patch(other, state.patch)
    assert info.value.hint is not None


def test_empty_patch_is_a_no_op(tmp_path: Path) -> None:
    apply_patch(tmp_path, "")
    apply_patch(tmp_path, b"")


# Secret samples are assembled at run time so that no scanner (ours or a code host's) flags this file itself.
_AWS_KEY = "AKIA" + "Q7PLANTED0SECRET"
_PEM = "\n".join(["-----BEGIN RSA PRIVATE KEY-----", "MIIEplanted" + "Ab1" * 20, "-----END RSA PRIVATE KEY-----"])


def test_credential_files_stay_out_by_name_and_by_content(repo: Path) -> None:
    (repo / "credentials.json").write_text('{"token": "name-planted"}\n')
    (repo / "secrets.yaml").write_text("db: name-planted\n")
    (repo / "conf").mkdir()
    (repo / "conf" / "service-account.json").write_text('{"note": "name-planted"}\n')
    (repo / "notes.txt").write_text(f"remember: {_AWS_KEY}\n")
    (repo / "gcp.json").write_text('{"type": "service_account", "project_id": "p"}\n')
    (repo / "deploy.sh").write_text(f"cat <<EOF > key\n{_PEM}\nEOF\n")
    (repo / "tokenizer.json").write_text('{"pad_token": "[PAD]", "max_tokens": 512}\n')
    (repo / "test_secrets.py").write_text('password_field = form.get("password")\ntoken = settings.API_TOKEN\n')
    state = capture_git(repo)
    assert state.untracked == ["test_secrets.py", "tokenizer.json"]
    assert state.skipped == [
        "conf/service-account.json (credential-like name)",
        "credentials.json (credential-like name)",
        "deploy.sh (holds a secret: private key)",
        "gcp.json (holds a secret: GCP service-account key)",
        "notes.txt (holds a secret: AWS access key id)",
        "secrets.yaml (credential-like name)",
    ]
    assert state.redacted == []
    for planted in ("name-planted", _AWS_KEY, "MIIEplanted", "service_account"):
        assert planted not in state.patch
        assert planted not in state.model_dump_json()


def test_untracked_symlink_is_captured_as_its_target_not_what_it_points_to(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    outside.write_text(f"{_AWS_KEY}\n")
    (repo / "link-out").symlink_to(outside)
    state = capture_git(repo)
    assert state.untracked == ["link-out"]
    assert _AWS_KEY not in state.patch


def test_secrets_added_to_tracked_files_are_masked_and_the_patch_still_applies(repo: Path, tmp_path: Path) -> None:
    (repo / "src" / "model.py").write_text(f'def f():\n    return 1\n\nAWS_KEY = "{_AWS_KEY}"\nLR = 0.1\n')
    (repo / "windows.txt").write_bytes(f"line one\r\ntoken: {_AWS_KEY}\r\nline two\r\n".encode())
    (repo / "deploy").mkdir()
    (repo / "deploy" / "key.txt").write_text(f"before\n{_PEM}\nafter\n")
    _git(repo, "add", "deploy/key.txt")  # staged: part of the user's change, not an untracked file
    state = capture_git(repo)
    assert state.redacted == [
        "deploy/key.txt (private key)",
        "src/model.py (AWS access key id)",
        "windows.txt (AWS access key id)",
    ]
    assert _AWS_KEY not in state.patch
    assert "MIIEplanted" not in state.patch
    assert state.patch_digest == hashlib.sha256(state.patch_bytes()).hexdigest()
    assert state.commit is not None

    clone = _clone_at(repo, state.commit, tmp_path / "clone")
    apply_patch(clone, state.patch)
    assert (clone / "src" / "model.py").read_text() == 'def f():\n    return 1\n\nAWS_KEY = "***"\nLR = 0.1\n'
    assert (clone / "windows.txt").read_bytes() == b"line one\r\ntoken: ***\r\nline two\r\n"
    assert (clone / "deploy" / "key.txt").read_text() == "before\n***\n***\n***\nafter\n"


def test_ordinary_code_changes_are_not_masked(repo: Path) -> None:
    (repo / "src" / "model.py").write_text(
        'password_field = form.get("password")\n'
        "token = settings.API_TOKEN\n"
        'checksum = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"\n'
        'tokenizer = "bert-base-uncased"\n'
    )
    state = capture_git(repo)
    assert state.redacted == []
    assert "***" not in state.patch


def test_every_added_line_of_a_tracked_credential_file_is_masked(repo: Path, tmp_path: Path) -> None:
    (repo / ".env").write_text("DEBUG=1\n")
    _git(repo, "add", "-f", ".env")
    _commit(repo, "a tracked .env")
    (repo / ".env").write_text("DEBUG=1\nDB_PASS=plainword\n\nREGION=eu\n")
    (repo / "secrets.yaml").write_text("db: plainword\n")
    _git(repo, "add", "secrets.yaml")  # staged, so part of the tracked change
    state = capture_git(repo)
    assert state.redacted == [".env (credential-like name)", "secrets.yaml (credential-like name)"]
    assert "plainword" not in state.patch
    assert state.commit is not None
    clone = _clone_at(repo, state.commit, tmp_path / "clone")
    apply_patch(clone, state.patch)
    assert (clone / ".env").read_text() == "DEBUG=1\n***\n\n***\n"


def test_a_same_size_change_in_the_second_of_the_commit_is_in_the_patch(repo: Path) -> None:
    """A "racily clean" file (changed in the same second as its index entry, same size) is still in the patch.

    git trusts an entry's stat data unless the entry is not older than the index file itself; the patch is built in
    a copy of the index, so the copy must keep the index's mtime or the change is silently left out.
    """
    model = repo / "src" / "model.py"
    entry = model.stat().st_mtime_ns
    index = repo / ".git" / "index"
    os.utime(index, ns=(entry, entry))  # the index written in the same second as the entry: racily clean
    model.write_text("def f():\n    return 7\n")  # same size
    os.utime(model, ns=(entry, entry))  # and the same mtime as the entry
    time.sleep(1.1)  # a copy of the index made now would be a second newer
    state = capture_git(repo)
    assert state.dirty
    assert b"+    return 7" in state.patch_bytes()
