"""Hashing: every algorithm in one pass, big files through the pipeline, and a stat cache that is never stale."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import blake3
import pytest

from reprise.data import _readers
from reprise.data.hashcache import HashCache
from reprise.data.hashing import ALGORITHMS, FileStat, check_algorithms, hash_file, hash_files
from reprise.errors import DataError

_HOUR_AGO_NS = time.time_ns() - 3600 * 10**9


def _reference(data: bytes, name: str) -> str:
    if name == "blake3":
        return blake3.blake3(data).hexdigest()
    return hashlib.new(name, data).hexdigest()


def _settle(path: Path) -> None:
    """Make a file old enough to be cached (files written within 2 s are never cached)."""
    os.utime(path, ns=(_HOUR_AGO_NS, _HOUR_AGO_NS))


@pytest.mark.parametrize("size", [0, 1, 4095, 70_000, 5 << 20], ids=["empty", "1B", "4KiB-1", "70KB", "5MiB"])
def test_one_pass_gives_every_algorithm_exactly(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert hash_file(path, ALGORITHMS) == {name: _reference(data, name) for name in ALGORITHMS}


def test_big_files_go_through_the_threaded_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_readers, "BIG", 1 << 20)
    monkeypatch.setattr(_readers, "CHUNK", 64 << 10)
    data = os.urandom((3 << 20) + 12345)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    calls = []
    real = _readers._hash_pipelined
    monkeypatch.setattr(_readers, "_hash_pipelined", lambda fd, names: calls.append(names) or real(fd, names))
    assert hash_file(path, ["md5", "sha256", "blake3"]) == {n: _reference(data, n) for n in ["md5", "sha256", "blake3"]}
    assert hash_file(path, ["sha1"]) == {"sha1": _reference(data, "sha1")}
    assert len(calls) == 2


def test_many_files_keep_their_order(tmp_path: Path) -> None:
    payloads = [os.urandom(100 + 37 * i) for i in range(300)]
    paths = []
    for index, data in enumerate(payloads):
        paths.append(tmp_path / f"{index:03d}.bin")
        paths[-1].write_bytes(data)
    seen: list[tuple[int, int]] = []
    result = hash_files(
        [FileStat.of(p) for p in paths], ["md5"], workers=4, on_progress=lambda d, t: seen.append((d, t))
    )
    assert [h["md5"] for h in result.hashes] == [_reference(d, "md5") for d in payloads]
    assert result.files_read == 300
    assert seen[-1][0] == seen[-1][1] == sum(map(len, payloads))


def test_unknown_algorithms_and_missing_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown hash algorithm crc32") as caught:
        check_algorithms(["sha256", "crc32"])
    assert caught.value.hint is not None
    assert "blake3" in caught.value.hint
    assert check_algorithms(["SHA256", "md5", "md5"]) == ("md5", "sha256")
    with pytest.raises(DataError, match="nope"):
        hash_file(tmp_path / "nope")


def test_the_cache_answers_unchanged_files_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 10_000)
    _settle(path)
    cache = HashCache(tmp_path / "cache.db")
    first = hash_files([FileStat.of(path)], ["md5", "sha256"], cache=cache)
    assert first.files_read == 1
    second = hash_files([FileStat.of(path)], ["sha256"], cache=cache)
    assert (second.files_read, second.cache_hits) == (0, 1)
    assert second.hashes[0] == {"sha256": first.hashes[0]["sha256"]}


def test_a_rewrite_that_restores_mtime_and_size_is_still_seen(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"a" * 1000)
    _settle(path)
    cache = HashCache(tmp_path / "cache.db")
    hash_files([FileStat.of(path)], ["sha256"], cache=cache)
    path.write_bytes(b"b" * 1000)
    _settle(path)  # same size, same mtime as before: only ctime tells
    again = hash_files([FileStat.of(path)], ["sha256"], cache=cache)
    assert again.files_read == 1
    assert again.hashes[0]["sha256"] == hashlib.sha256(b"b" * 1000).hexdigest()


def test_a_file_written_just_now_is_not_cached(tmp_path: Path) -> None:
    path = tmp_path / "fresh.bin"
    path.write_bytes(b"fresh")
    cache = HashCache(tmp_path / "cache.db")
    hash_files([FileStat.of(path)], ["md5"], cache=cache)
    assert cache.lookup([FileStat.of(path)], ["md5"]) == {}


def test_rehash_ignores_a_corrupted_cache_and_repairs_it(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"payload")
    _settle(path)
    cache = HashCache(tmp_path / "cache.db")
    hash_files([FileStat.of(path)], ["sha256"], cache=cache)
    with sqlite3.connect(cache.path) as conn:
        conn.execute("UPDATE hashes SET sha256 = 'bad'")
    assert hash_files([FileStat.of(path)], ["sha256"], cache=cache).hashes[0]["sha256"] == "bad"
    truth = hashlib.sha256(b"payload").hexdigest()
    assert hash_files([FileStat.of(path)], ["sha256"], cache=cache, rehash=True).hashes[0]["sha256"] == truth
    assert hash_files([FileStat.of(path)], ["sha256"], cache=cache).hashes[0]["sha256"] == truth


def test_a_cache_that_cannot_be_opened_only_costs_speed(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"payload")
    (tmp_path / "not-a-db").write_text("garbage" * 100)
    cache = HashCache(tmp_path / "not-a-db")
    result = hash_files([FileStat.of(path)], ["md5"], cache=cache)
    assert result.hashes[0]["md5"] == hashlib.md5(b"payload").hexdigest()
