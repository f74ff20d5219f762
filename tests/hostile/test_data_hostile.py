"""Hostile and unlucky uses of ``reprise data`` (issue 18), through the real CLI on a real git + DVC project.

Each probe asserts a clear failure (one ``error:`` line, its hint, no traceback, the documented exit code) or a
correct recovery, and that nothing was lost or written outside the project.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]

#: DataError's exit code (reprise/errors.py); a failed verification exits 1 too.
_DATA_ERROR = 1


def _one_error(result: subprocess.CompletedProcess[str], *needles: str, code: int = _DATA_ERROR) -> str:
    """The error line of a failed command, after checking it is one line (plus hints) holding every needle."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert all(line.startswith("  hint: ") for line in lines if line not in errors), result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _csv(path: Path, rows: int, shift: int = 0) -> bytes:
    data = ("x,kind\n" + "".join(f"{(i + shift) % 97},{'ab'[i % 2]}\n" for i in range(rows))).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def _cache_temporaries(root: Path) -> list[Path]:
    return sorted((root / ".dvc" / "cache").rglob(".*.tmp"))


# -- 1. a crafted metadata-store row ----------------------------------------------------------------------------------

_CRAFTED = {
    "relative": lambda out: {"path": "../escaped.csv", "dvc_file": "../escaped.csv.dvc"},
    "absolute": lambda out: {"path": str(out / "abs.csv"), "dvc_file": str(out / "abs.csv.dvc")},
    "dvc-text": lambda out: {"dvc_text": "outs:\n- md5: {md5}\n  size: 10\n  path: ../../escaped.csv\n"},
    "md5": lambda out: {"dvc_text": "outs:\n- md5: ../../../../../../etc/hostname\n  size: 10\n  path: a.csv\n"},
}


@pytest.mark.timeout(90)
def test_crafted_store_rows_cannot_make_checkout_or_verify_touch_anything_outside(cli: Cli, tmp_project: Path) -> None:
    import reprise
    from reprise.config import load_settings
    from reprise.store.data_versions import find_data_version, insert_data_version, read_document
    from reprise.store.db import dispose_engines, open_store

    original = _csv(tmp_project / "data" / "a.csv", 20)
    reprise.version_data("data/a.csv", version_name="real")
    dvc_file = tmp_project / "data" / "a.csv.dvc"
    dvc_text = dvc_file.read_text()
    outside = tmp_project.parent
    before = sorted(p.name for p in outside.iterdir())
    engine = open_store(load_settings(tmp_project, environ={}))
    real = find_data_version(engine, "real")
    assert real is not None
    body = read_document(engine, real.manifest_digest)
    assert body is not None
    for kind, craft in _CRAFTED.items():
        changes = craft(outside)
        if "dvc_text" in changes:
            changes["dvc_text"] = changes["dvc_text"].format(md5=real.dvc_md5)
        insert_data_version(engine, dataclasses.replace(real, version_id=uuid.uuid4().hex, name=kind, **changes), body)
    dispose_engines()

    for kind in _CRAFTED:
        result = cli("data", "checkout", kind, cwd=tmp_project, timeout=60)
        _one_error(result, "not an md5" if kind == "md5" else "outside", f"data version {kind}")
        assert sorted(p.name for p in outside.iterdir()) == before, f"checkout of {kind} wrote outside the project"
        assert dvc_file.read_text() == dvc_text, f"the crafted .dvc text of {kind} reached the work tree"
        assert (tmp_project / "data" / "a.csv").read_bytes() == original
    _one_error(cli("data", "verify", cwd=tmp_project, timeout=60), "outside")


# -- 2. kill -9 during `data version` ---------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_kill_during_data_version_never_loses_the_file_and_the_next_run_cleans_up(cli: Cli, tmp_project: Path) -> None:
    data = tmp_project / "data"
    data.mkdir()
    big = data / "big.bin"
    block = os.urandom(1 << 20)
    with big.open("wb") as handle:
        for index in range(200):  # 200 MiB: DVC hashes, copies and (formerly) relinks it for a second or two
            handle.write(index.to_bytes(4, "little") + block[4:])
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    command = [sys.executable, "-m", "reprise", "data", "version", "data/big.bin"]
    for attempt, delay in enumerate((0.5, 1.2, 2.0)):
        with big.open("r+b") as handle:  # new bytes each time: DVC must really add them
            handle.write(os.urandom(64))
        expected = _sha256(big)
        process = subprocess.Popen(
            [*command, "--name", f"killed-{attempt}"],
            cwd=tmp_project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert big.is_file(), f"the user's file is gone after a kill at {delay} s"
        assert _sha256(big) == expected, f"the user's file changed after a kill at {delay} s"
        assert sorted(p.name for p in data.iterdir() if p.name.startswith(".") and p.name != ".gitignore") == []
    # However the kills fell, one more leftover: a copy whose writer (a process of this host) is gone.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12]
    planted = tmp_project / ".dvc" / "cache" / "files" / "md5" / "ab" / f".reprise-{dead.stdout.strip()}-{host}-0f.tmp"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_bytes(b"half a copy")
    # A run to the end, watched: the file must exist at every instant (DVC's relink used to delete it and copy it
    # back from the cache, a gap of ~5% of the run), and the run removes the orphans.
    with big.open("r+b") as handle:
        handle.write(os.urandom(64))
    expected = _sha256(big)
    errors = tmp_project.parent / "survivor.err"
    with errors.open("w") as sink:
        process = subprocess.Popen(
            [*command, "--name", "survivor"], cwd=tmp_project, env=env, stdout=subprocess.DEVNULL, stderr=sink
        )
        gaps = 0
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            gaps += not big.exists()
            time.sleep(0.0005)
        process.kill()  # a no-op when it finished; bounds the test when it hangs
        assert process.wait(timeout=10) == 0, errors.read_text()
    assert gaps == 0, f"the user's file was missing {gaps} times during data version"
    assert _cache_temporaries(tmp_project) == [], "orphan temporary files stayed in the DVC cache"
    assert _sha256(big) == expected
    verified = cli("data", "verify", "survivor", "--rehash", cwd=tmp_project, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.timeout(60)
def test_verify_reports_a_versioned_file_that_is_missing(cli: Cli, tmp_project: Path) -> None:
    import reprise

    path = tmp_project / "data" / "a.csv"
    _csv(path, 10)
    reprise.version_data("data/a.csv", version_name="a1")
    path.unlink()
    result = cli("data", "verify", cwd=tmp_project, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "data/a.csv (a1): missing: a.csv" in result.stdout
    assert "Traceback" not in result.stderr


# -- 3. special files and symlink loops -------------------------------------------------------------------------------


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    here = Path.cwd()
    os.chdir(path.parent)  # a relative name: a socket path is limited to ~100 bytes
    try:
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(path.name)  # the socket file stays after close
    finally:
        os.chdir(here)


def _loop(path: Path) -> None:
    path.symlink_to(path.name)


_SPECIAL = {"fifo": (_fifo, "FIFO"), "socket": (_socket, "socket"), "symlink-loop": (_loop, "symlink loop")}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", list(_SPECIAL), ids=list(_SPECIAL))
def test_special_files_and_symlink_loops_are_refused_never_opened(cli: Cli, tmp_project: Path, kind: str) -> None:
    import reprise
    from reprise.errors import DataError

    make, word = _SPECIAL[kind]
    folder = tmp_project / "data" / "folder"
    _csv(folder / "a.csv", 5)
    make(folder / "odd")
    versioned = cli("data", "version", "data/folder", "--name", "f1", cwd=tmp_project, timeout=60)
    _one_error(versioned, word, "odd")
    assert not (tmp_project / "data" / "folder.dvc").exists()
    assert reprise.list_data_versions() == []
    with pytest.raises(DataError, match=word):
        reprise.Manifest.generate(folder)
    with pytest.raises(DataError, match=word):
        reprise.Manifest.generate(folder / "odd")
    excluded = reprise.Manifest.generate(folder, exclude=["odd"])
    assert [entry.path for entry in excluded.files] == ["a.csv"]


# -- 4. checkout over local changes -----------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_checkout_refuses_to_overwrite_local_changes_without_force(cli: Cli, tmp_project: Path) -> None:
    import reprise

    path = tmp_project / "data" / "train.csv"
    first = _csv(path, 30)
    reprise.version_data("data/train.csv", version_name="v1")
    edited = _csv(path, 31, shift=5)
    refused = cli("data", "checkout", "v1", cwd=tmp_project, timeout=60)
    _one_error(refused, "data/train.csv", "--force")
    assert path.read_bytes() == edited, "checkout overwrote a local change"
    forced = cli("data", "checkout", "v1", "--force", cwd=tmp_project, timeout=60)
    assert forced.returncode == 0, forced.stderr
    assert path.read_bytes() == first
    assert reprise.checkout_data("v1").name == "v1"  # nothing local to lose now: no force needed


# -- 5. a malformed or hand-edited manifest ---------------------------------------------------------------------------


def _edit_hash(raw: dict[str, object]) -> str:
    files = raw["files"]
    assert isinstance(files, list)
    files[0]["hashes"]["sha256"] = "0" * 64
    return json.dumps(raw, indent=2, sort_keys=True)


def _edit_totals(raw: dict[str, object]) -> str:
    summary = raw["summary"]
    assert isinstance(summary, dict)
    summary["total_files"] = 1
    return json.dumps(raw, indent=2, sort_keys=True)


def _drop_algorithm(raw: dict[str, object]) -> str:
    from reprise.data.manifest import FileEntry, manifest_digest

    files = raw["files"]
    assert isinstance(files, list)
    del files[0]["hashes"]["md5"]
    raw["digest"] = manifest_digest(FileEntry.model_validate(entry) for entry in files)  # a consistent digest
    return json.dumps(raw, indent=2, sort_keys=True)


_MALFORMED: dict[str, tuple[Callable[[dict[str, object]], str], str]] = {
    "edited-hash": (_edit_hash, "digest does not match"),
    "edited-totals": (_edit_totals, "totals differ"),
    "missing-algorithm": (_drop_algorithm, "lacks a hash"),
    "truncated": (lambda raw: json.dumps(raw, indent=2, sort_keys=True)[:-40], "not a Reprise manifest"),
    "not-an-object": (lambda raw: "[1, 2, 3]", "not a Reprise manifest"),
    "escaping-path": (lambda raw: json.dumps({**raw, "paths": ["../.."]}), "points outside"),
}


@pytest.mark.timeout(90)
def test_malformed_or_hand_edited_manifests_fail_validation(cli: Cli, tmp_project: Path) -> None:
    folder = tmp_project / "data"
    for index in range(3):
        _csv(folder / f"part{index}.csv", 10 + index)
    old = time.time_ns() - 3600 * 10**9  # settled files: the stat cache answers the warm check
    for path in folder.iterdir():
        os.utime(path, ns=(old, old))
    saved = tmp_project / "m.json"
    assert cli("data", "manifest", "data", "-o", "m.json", cwd=tmp_project, timeout=60).returncode == 0
    good = saved.read_text()
    for _ in range(2):  # the second check is the warm one, answered from the stat cache
        warm = cli("data", "manifest", "data", "--validate", "m.json", cwd=tmp_project, timeout=60)
        assert warm.returncode == 0, warm.stderr
    for kind, (edit, message) in _MALFORMED.items():
        saved.write_text(edit(json.loads(good)))
        result = cli("data", "manifest", "data", "--validate", "m.json", cwd=tmp_project, timeout=60)
        assert "OK" not in result.stderr, kind
        _one_error(result, message)


# -- 6. a newline in a data file name ---------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_newline_in_a_file_name_is_refused_before_gitignore_is_touched(cli: Cli, tmp_project: Path) -> None:
    import reprise

    name = "evil\n*"  # appended raw to data/.gitignore, the second line would ignore every file in data/
    path = tmp_project / "data" / name
    _csv(path, 5)
    result = cli("data", "version", f"data/{name}", "--name", "evil", cwd=tmp_project, timeout=60)
    _one_error(result, "newline", "'data/evil\\n*'")
    assert not (tmp_project / "data" / ".gitignore").exists()
    assert not (tmp_project / "data" / f"{name}.dvc").exists()
    assert path.is_file()
    assert reprise.list_data_versions() == []
