"""Manifests: entries and summary, save/load, validation (every problem reported), diff, and an order-free digest."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprise.data.hashcache import HashCache
from reprise.data.manifest import MANIFEST_VERSION, Manifest, build_manifest, human_size
from reprise.data.verify import _without_files, verify_manifest
from reprise.errors import DataError, ManifestMismatchError

_OLD_NS = time.time_ns() - 3600 * 10**9


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _age(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(_OLD_NS, _OLD_NS))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return _tree(
        tmp_path / "data",
        {"a.csv": b"x,y\n1,2\n", "sub/b.bin": os.urandom(5000), "sub/deep/c.txt": b"hello", "skip.tmp": b"tmp"},
    )


def test_entries_and_summary(data: Path) -> None:
    manifest = Manifest.generate(data, ["sha256", "md5"], metadata={"source": "unit"}, cache=False)
    assert [entry.path for entry in manifest.files] == ["a.csv", "skip.tmp", "sub/b.bin", "sub/deep/c.txt"]
    entry = manifest.files[0]
    assert entry.size == 8
    assert entry.human_size == "8 B"
    assert entry.hashes == {
        "md5": hashlib.md5(b"x,y\n1,2\n").hexdigest(),
        "sha256": hashlib.sha256(b"x,y\n1,2\n").hexdigest(),
    }
    assert entry.permissions == f"{(data / 'a.csv').stat().st_mode & 0o7777:04o}"
    assert entry.mtime is not None
    assert entry.mtime.startswith(str(time.gmtime().tm_year))
    summary = manifest.summary
    assert (summary.total_files, summary.total_size) == (4, 8 + 5000 + 5 + 3)
    assert summary.processing_time > 0
    assert summary.throughput_mb_s > 0
    assert manifest.algorithms == ("md5", "sha256")
    assert manifest.metadata == {"source": "unit"}
    assert manifest.manifest_version == MANIFEST_VERSION


def test_include_and_exclude_globs(data: Path) -> None:
    only_csv = Manifest.generate(data, ["md5"], include=["*.csv"], cache=False)
    assert [entry.path for entry in only_csv.files] == ["a.csv"]
    no_sub = Manifest.generate(data, ["md5"], exclude=["sub", "*.tmp"], cache=False)
    assert [entry.path for entry in no_sub.files] == ["a.csv"]
    deep = Manifest.generate(data, ["md5"], include=["sub/**/*.txt"], cache=False)
    assert [entry.path for entry in deep.files] == ["sub/deep/c.txt"]


def test_a_single_file_is_named_by_its_file_name(data: Path) -> None:
    manifest = Manifest.generate(data / "a.csv", ["md5"], cache=False)
    assert [entry.path for entry in manifest.files] == ["a.csv"]
    assert manifest.validate(data / "a.csv", cache=False).ok


def test_save_and_load_round_trip_and_refuse_tampering(data: Path, tmp_path: Path) -> None:
    manifest = Manifest.generate(data, cache=False)
    path = manifest.save(tmp_path / "m.json")
    assert Manifest.load(path) == manifest
    raw = json.loads(path.read_text())
    raw["files"][0]["hashes"]["sha256"] = "0" * 64
    path.write_text(json.dumps(raw))
    with pytest.raises(DataError, match="digest does not match"):
        Manifest.load(path)
    raw["manifest_version"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(DataError, match="unsupported manifest_version 99"):
        Manifest.load(path)
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="not a Reprise manifest"):
        Manifest.load(path)


@pytest.mark.parametrize("warm", [False, True], ids=["fresh-files", "cached-files"])
def test_validate_reports_a_flipped_byte_a_deleted_file_and_an_added_file(
    data: Path, tmp_path: Path, warm: bool
) -> None:
    cache = HashCache(tmp_path / "cache.db")
    if warm:
        _age(data)
    manifest = Manifest.generate(data, cache=cache)
    assert manifest.validate(data, cache=cache).ok
    blob = bytearray((data / "sub/b.bin").read_bytes())
    blob[1234] ^= 0x01
    (data / "sub/b.bin").write_bytes(bytes(blob))
    (data / "sub/deep/c.txt").unlink()
    (data / "new.csv").write_text("z\n")
    report = manifest.validate(data, cache=cache)
    assert not report.ok
    assert report.missing == ("sub/deep/c.txt",)
    assert report.extra == ("new.csv",)
    assert [item.path for item in report.mismatched] == ["sub/b.bin"]
    assert report.mismatched[0].expected_size == report.mismatched[0].actual_size
    assert len(report.problems()) == 3
    with pytest.raises(ManifestMismatchError, match="1 missing, 1 extra, 1 changed"):
        report.raise_for_problems("data")


def test_a_warm_validation_reads_nothing_and_rehash_reads_everything(data: Path, tmp_path: Path) -> None:
    _age(data)
    cache = HashCache(tmp_path / "cache.db")
    manifest = Manifest.generate(data, cache=cache)
    warm = manifest.validate(data, cache=cache)
    assert (warm.ok, warm.files_read) == (True, 0)
    cold = manifest.validate(data, cache=cache, rehash=True)
    assert (cold.ok, cold.files_read) == (True, 4)


def test_verify_manifest_answers_unchanged_data_from_the_stat_cache(data: Path, tmp_path: Path) -> None:
    _age(data)
    cache = HashCache(tmp_path / "cache.db")
    saved = Manifest.generate(data, cache=cache).save(tmp_path / "m.json")
    quick = verify_manifest(saved, data, cache=cache)
    assert (quick.ok, quick.checked, quick.files_read) == (True, 4, 0)
    assert verify_manifest(saved.read_bytes(), data, cache=cache).ok
    assert verify_manifest(saved, data, cache=cache, rehash=True).files_read == 4
    (data / "a.csv").write_text("x,y\n1,3\n")
    changed = verify_manifest(saved, data, cache=cache)
    assert [item.path for item in changed.mismatched] == ["a.csv"]
    with pytest.raises(DataError, match="cannot read manifest"):
        verify_manifest(tmp_path / "absent.json", data)


def test_the_warm_check_reads_the_header_without_the_entries(data: Path, tmp_path: Path) -> None:
    nested = {"files": [1, 2], "note": "ends a line with  ]"}
    saved = Manifest.generate(data, metadata={"nested": nested}, cache=False).save(tmp_path / "m.json")
    header = json.loads(_without_files(saved.read_bytes()))
    assert header["files"] == []
    assert header["metadata"] == {"nested": nested}
    assert header["summary"]["total_files"] == 4
    compact = json.dumps(json.loads(saved.read_bytes())).encode()
    assert _without_files(compact) == compact


def test_diff_between_manifests(data: Path) -> None:
    before = Manifest.generate(data, cache=False)
    (data / "a.csv").write_text("x,y\n9,9\n")
    (data / "skip.tmp").unlink()
    (data / "added.txt").write_text("new")
    after = Manifest.generate(data, cache=False)
    change = before.diff(after)
    assert (change.added, change.removed, change.changed, change.unchanged) == (
        ("added.txt",),
        ("skip.tmp",),
        ("a.csv",),
        2,
    )
    assert before.diff(before).is_empty
    with pytest.raises(DataError, match="share no hash algorithm"):
        before.diff(Manifest.generate(data, ["blake3"], cache=False))


def test_max_files_truncates_and_says_so(data: Path) -> None:
    manifest = Manifest.generate(data, max_files=2, cache=False)
    assert len(manifest.files) == 2
    assert manifest.summary.truncated
    assert manifest.validate(data, cache=False).extra == ()


def test_build_manifest_names_files_from_the_base(data: Path) -> None:
    manifest = build_manifest(["a.csv", "sub"], base=data, cache=False)
    assert manifest.paths == ("a.csv", "sub")
    assert [entry.path for entry in manifest.files] == ["a.csv", "sub/b.bin", "sub/deep/c.txt"]
    assert "sha256" in manifest.algorithms
    assert manifest.validate(data, cache=False).ok
    with pytest.raises(DataError, match=r"nope\.csv"):
        build_manifest(["nope.csv"], base=data)


def test_a_missing_path_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        Manifest.generate(tmp_path / "absent")


def test_human_size() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 1536 * 1024, 3 << 30)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 MiB",
        "3.0 GiB",
    ]


_names = st.lists(
    st.from_regex(r"[a-z]{1,6}(/[a-z]{1,6}){0,2}\.(csv|bin)", fullmatch=True), min_size=1, max_size=8, unique=True
).filter(lambda names: not any(other.startswith(name.rsplit(".", 1)[0] + "/") for name in names for other in names))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=_names, contents=st.data(), order=st.randoms(use_true_random=False))
def test_the_digest_ignores_write_order_and_mtimes(names: list[str], contents: st.DataObject, order: object) -> None:
    files = {name: contents.draw(st.binary(max_size=64), label=name) for name in names}
    shuffled = list(files.items())
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        first = _tree(Path(one), files)
        second = _tree(Path(two), dict(shuffled))
        os.utime(next(p for p in second.rglob("*") if p.is_file()), ns=(_OLD_NS, _OLD_NS))
        a = Manifest.generate(first, cache=False)
        b = Manifest.generate(second, cache=False)
    assert a.digest == b.digest
    assert a.diff(b).is_empty
