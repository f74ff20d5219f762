"""Many small files: the helper processes give the same hashes as a plain loop, and report unreadable files."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import pytest

from reprise.data import _parallel, _readers
from reprise.data.hashing import FileStat, hash_files
from reprise.errors import DataError


@pytest.fixture
def many(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.setattr(_parallel, "PROCESS_MIN_FILES", 50)
    monkeypatch.setattr(_parallel, "BATCH_FILES", 8)
    paths = []
    for index in range(120):
        path = tmp_path / f"d{index % 4}" / f"f{index:03d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(os.urandom(3000 + index))
        paths.append(path)
    return paths


def test_helper_processes_hash_like_a_plain_loop(many: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    started = []
    real = _parallel._Helper.start
    monkeypatch.setattr(_parallel._Helper, "start", classmethod(lambda cls: started.append(1) or real()))
    result = hash_files([FileStat.of(p) for p in many], ["md5", "sha256"], workers=3)
    assert len(started) == 2
    for path, hashes in zip(many, result.hashes, strict=True):
        data = path.read_bytes()
        assert hashes == {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}


def test_a_file_that_vanished_is_a_data_error_from_any_worker(many: list[Path]) -> None:
    stats = [FileStat.of(p) for p in many]
    for path in many[::7]:
        path.unlink()
    with pytest.raises(DataError, match="cannot read"):
        hash_files(stats, ["md5"], workers=2)


def test_a_helper_that_cannot_start_leaves_the_work_to_this_process(
    many: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_parallel._Helper, "start", classmethod(lambda cls: None))
    result = hash_files([FileStat.of(p) for p in many], ["sha1"], workers=2)
    assert result.hashes[5]["sha1"] == hashlib.sha1(many[5].read_bytes()).hexdigest()


def test_a_helper_that_dies_mid_work_leaves_its_batches_to_this_process(
    many: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    helpers: list[_parallel._Helper] = []
    real = _parallel._Helper.start

    def start_and_kill(cls: type[_parallel._Helper]) -> _parallel._Helper | None:
        helper = real()
        assert helper is not None
        helper.process.kill()
        helpers.append(helper)
        return helper

    monkeypatch.setattr(_parallel._Helper, "start", classmethod(start_and_kill))
    result = hash_files([FileStat.of(p) for p in many], ["md5"], workers=2)
    assert [h["md5"] for h in result.hashes] == [hashlib.md5(p.read_bytes()).hexdigest() for p in many]
    assert len(helpers) == 1
    assert helpers[0].process.returncode is not None


def test_helpers_have_exited_when_hashing_returns_or_fails(many: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    helpers: list[_parallel._Helper] = []
    real = _parallel._Helper.start
    monkeypatch.setattr(_parallel._Helper, "start", classmethod(lambda cls: helpers.append(real()) or helpers[-1]))
    stats = [FileStat.of(p) for p in many]
    hash_files(stats, ["sha256"], workers=3)
    many[-1].unlink()  # the helpers are fed from the back: the first batch one of them gets fails
    with pytest.raises(DataError, match=many[-1].name):
        hash_files(stats, ["sha256"], workers=3)
    assert len(helpers) == 4
    assert [helper.process.returncode for helper in helpers[:2]] == [0, 0]
    assert all(helper.process.returncode is not None for helper in helpers[2:])  # killed: not waited on


@pytest.mark.timeout(60)
def test_a_slow_consumer_or_a_slow_last_batch_does_not_hang(
    many: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Helpers that answered everything while this thread hashed the last batch are let go, not waited on."""
    monkeypatch.setattr(_readers, "BIG", 64 << 10)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(4 << 20))  # a batch of its own, slow next to the small ones
    paths = [*many[:100], big, *many[100:]]

    def slow(done: int, total: int) -> None:
        time.sleep(0.02)

    result = hash_files([FileStat.of(p) for p in paths], ["md5"], workers=2, on_progress=slow)
    assert [h["md5"] for h in result.hashes] == [hashlib.md5(p.read_bytes()).hexdigest() for p in paths]


def test_a_helper_that_prints_to_its_stdout_is_let_go_and_its_work_done_here(
    many: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sitecustomize.py").write_text("print('hello from sitecustomize')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    result = hash_files([FileStat.of(p) for p in many], ["sha1"], workers=2)
    assert [h["sha1"] for h in result.hashes] == [hashlib.sha1(p.read_bytes()).hexdigest() for p in many]


def test_a_frozen_application_hashes_in_this_process(many: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen app's sys.executable is the app itself: starting it as a helper would run the app again."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)

    def refuse(argv: list[str], **_: object) -> None:
        pytest.fail(f"started {argv}")

    monkeypatch.setattr(_parallel.subprocess, "Popen", refuse)
    result = hash_files([FileStat.of(p) for p in many], ["md5"], workers=2)
    assert result.hashes[7]["md5"] == hashlib.md5(many[7].read_bytes()).hexdigest()
