"""Benchmark reprise.data.hashing against a plain hashlib loop, two separate passes, `dvc add` and `dvc status`.

Builds (a) one 1 GiB file and (b) 10,000 files of 4-64 KiB in a temp dir (deleted afterwards), and reports ratios
against baselines measured in the same run:

* cold throughput per algorithm vs a single-threaded ``hashlib`` (or single-threaded blake3) loop over the same files;
* cold md5 (``Manifest.generate``, no stat cache) vs ``dvc add`` on the same data;
* warm re-validation of the unchanged 10,000 files (``verify_manifest(saved_file, folder)``) vs ``dvc status``;
* md5+sha256 in one pass vs two separate passes.

"Cold" means no stat cache; every measurement is taken with the files in the page cache (they were just written and
read once), as dropping the page cache needs root and disturbs everything else on the machine. File mtimes are set
an hour back: the stat cache never stores a file modified within 2 s of being read, and real datasets are older.

Usage: ``.venv/bin/python bench/bench_hashing.py [--results bench/RESULTS.md]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import blake3

from reprise.data.hashcache import HashCache
from reprise.data.hashing import ALGORITHMS, FileStat, hash_files
from reprise.data.manifest import Manifest
from reprise.data.verify import verify_manifest

BIN = Path(sys.executable).parent
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
_OLD_NS = time.time_ns() - 3600 * 10**9


def best(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def paired(base: Callable[[], object], ours: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best of ``repeat`` for each, taken in turns, so both see the same machine (it is shared)."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for call, bucket in ((base, times[0]), (ours, times[1])):
            started = time.perf_counter()
            call()
            bucket.append(time.perf_counter() - started)
    return min(times[0]), min(times[1])


def _burn(_: int) -> None:
    hasher, block = hashlib.md5(), b"x" * (16 << 20)
    for _ in range(8):
        hasher.update(block)


def cpu_capacity() -> float:
    """How many cores this process can actually get now: 2 x (one md5 burn) / (two burns in parallel).

    The machine is shared; a figure well below ``os.cpu_count()`` means other work held a core during the run, and
    the multi-core targets (small files, one pass) cannot show.
    """
    from concurrent.futures import ProcessPoolExecutor

    workers = os.cpu_count() or 1
    started = time.perf_counter()
    _burn(0)
    one = time.perf_counter() - started
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_burn, range(workers)))
        started = time.perf_counter()
        list(pool.map(_burn, range(workers)))
        many = time.perf_counter() - started
    return workers * one / many


def baseline(paths: list[Path], algorithm: str) -> None:
    """The one-core limit: a plain loop, one file after the other, 1 MiB reads."""
    for path in paths:
        hasher = blake3.blake3() if algorithm == "blake3" else hashlib.new(algorithm)
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                hasher.update(chunk)
        hasher.hexdigest()


def read_only(paths: list[Path]) -> None:
    """What a pass costs beyond hashing: open, read and close every file (one thread)."""
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(1 << 20):
                pass


def build(root: Path, big_bytes: int, small_count: int) -> tuple[Path, Path]:
    big = root / "big.bin"
    with big.open("wb") as handle:
        left = big_bytes
        while left:
            step = min(left, 64 << 20)
            handle.write(os.urandom(step))
            left -= step
    small = root / "small"
    rng = random.Random(42)
    for index in range(small_count):
        folder = small / f"d{index // 500:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index:05d}.bin").write_bytes(rng.randbytes(rng.randint(4 << 10, 64 << 10)))
    for path in [big, *small.rglob("*.bin")]:
        os.utime(path, ns=(_OLD_NS, _OLD_NS))
    return big, small


def run(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="Where to build the data (default: the temp dir).")
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--results", type=Path, default=None, help="Write the figures into this RESULTS.md.")
    args = parser.parse_args()
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    tmp = Path(tempfile.mkdtemp(prefix="reprise-bench-hashing-", dir=args.dir))
    try:
        repo = tmp / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=ENV)
        subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=repo, check=True, env=ENV)
        (repo / "reprise.toml").write_text("# makes the stat cache live in repo/.reprise\n")
        started = time.perf_counter()
        big, small = build(repo, args.big_mib << 20, args.small)
        small_files = sorted(small.rglob("*.bin"))
        small_bytes = sum(p.stat().st_size for p in small_files)
        baseline([big, *small_files], "sha1")  # into the page cache
        took = time.perf_counter() - started
        say(f"built {args.big_mib} MiB + {len(small_files)} files ({small_bytes / 1e6:.0f} MB) in {took:.1f} s")
        say(f"cpus: {os.cpu_count()}, usable now: {cpu_capacity():.2f}, load average before: {os.getloadavg()[0]:.2f}")
        say()
        big_label = f"{args.big_mib / 1024:g} GiB file"
        small_label = f"{len(small_files):,} files"
        big_stat = [FileStat.of(big)]
        small_stats = [FileStat.of(p) for p in small_files]
        results: list[tuple[str, float, float, float, str]] = []
        loops: dict[tuple[str, str], float] = {}
        say("| measurement | baseline (s) | reprise (s) | ratio | target |")
        say("| --- | ---: | ---: | ---: | --- |")

        def report(name: str, base: float, ours: float, target: float) -> None:
            ratio = base / ours
            verdict = "met" if ratio >= target else "MISSED"
            results.append((name, base, ours, ratio, verdict))
            say(f"| {name} | {base:.3f} | {ours:.3f} | {ratio:.2f}x | >= {target}x {verdict} |")

        for algorithm in ALGORITHMS:
            base, ours = paired(
                lambda a=algorithm: baseline([big], a), lambda a=algorithm: hash_files(big_stat, [a]), 5
            )
            loops[big_label, algorithm] = base
            report(f"{big_label}, {algorithm} cold vs 1-thread loop", base, ours, 0.9)
        for algorithm in ALGORITHMS:
            base, ours = paired(
                lambda a=algorithm: baseline(small_files, a), lambda a=algorithm: hash_files(small_stats, [a]), 5
            )
            loops[small_label, algorithm] = base
            report(f"{small_label}, {algorithm} cold vs 1-thread loop", base, ours, 1.5)
        for label, stats in ((big_label, big_stat), (small_label, small_stats)):
            two, one = paired(
                lambda s=stats: (hash_files(s, ["md5"]), hash_files(s, ["sha256"])),
                lambda s=stats: hash_files(s, ["md5", "sha256"]),
                3,
            )
            report(f"{label}, md5+sha256 one pass vs two passes", two, one, 1.3)
        for label, target_path in ((small_label, small), (big_label, big)):
            ours = best(lambda p=target_path: Manifest.generate(p, ["md5"], cache=False), 2)
            dvc = run([str(BIN / "dvc"), "add", "-q", target_path.name], repo)
            report(f"{label}, cold md5 manifest vs `dvc add`", dvc, ours, 5)
        cache = HashCache(repo / ".reprise" / "hashcache.db")
        saved = Manifest.generate(small, cache=cache).save(repo / "small.manifest.json")
        run([str(BIN / "dvc"), "status", "-q"], repo)
        dvc_status = min(run([str(BIN / "dvc"), "status", "-q"], repo) for _ in range(3))
        warm = best(lambda: verify_manifest(saved, small, cache=cache), 5)
        assert verify_manifest(saved, small, cache=cache).ok
        full = best(lambda: Manifest.load(saved).validate(small, cache=cache), 3)
        report(f"{small_label}, warm re-validation (verify_manifest) vs `dvc status`", dvc_status, warm, 10)
        dvc_inproc = best(lambda: _dvc_status_in_process(repo), 3)
        cli = min(
            run([str(BIN / "reprise"), "data", "manifest", "small", "--validate", saved.name], repo) for _ in range(3)
        )
        say()
        say("Same warm re-validation, other pairings (information, no target):")
        say(f"- `Manifest.load(file).validate(path)` (builds every entry): {full:.3f} s -> {dvc_status / full:.1f}x")
        say(
            f"- DVC in-process `Repo(path).status()`: {dvc_inproc:.3f} s -> reprise in-process {dvc_inproc / warm:.1f}x"
        )
        say(
            f"- `reprise data manifest small --validate` as a command: {cli:.3f} s (interpreter start-up and imports"
            f" included) -> {dvc_status / cli:.1f}x against `dvc status`"
        )
        reading = best(lambda: read_only(small_files), 3)
        hashing = loops[small_label, "md5"] + loops[small_label, "sha256"]
        say(
            f"- Reading the {small_label} alone (open, read, close; 1 thread): {reading:.3f} s, against"
            f" {hashing:.3f} s for the md5 and sha256 loops: reading once instead of twice can gain at most"
            f" {hashing / (hashing - reading):.2f}x here, on any number of cores; the rest of the measured one-pass"
            " ratio is the start-up of the second pass's helper process"
        )
        floor = loops[big_label, "md5"]
        say(
            f"- md5 is one serial stream: the {big_label} cannot hash in less than the 1-thread md5 loop's"
            f" {floor:.3f} s, so 5x against `dvc add` needs `dvc add` to take {5 * floor:.1f} s or more"
        )
        say(f"- cpus usable after: {cpu_capacity():.2f}, load average after: {os.getloadavg()[0]:.2f}")
        missed = [name for name, *_, verdict in results if verdict != "met"]
        say()
        say(
            f"targets met: {len(results) - len(missed)}/{len(results)}"
            + (f"; missed: {'; '.join(missed)}" if missed else "")
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.results is not None:
        _write_results(args.results, lines)
    return 0


def _dvc_status_in_process(repo: Path) -> None:
    from dvc.repo import Repo

    handle = Repo(str(repo))
    try:
        handle.status()
    finally:
        handle.close()


_NOTES = """
Reading the figures: the machine is shared, so each run prints how many cores it could actually get ("usable now",
from two md5 burns in parallel); the multi-core targets (10,000 files, one pass) need about two. How the small files
are spread: the calling thread hashes batches itself and, between two, feeds `cpus - 1` helper processes over
non-blocking pipes (one Python thread here: a second one, hashing or feeding a pipe, fought the first for the GIL and
both ran at ~70 % speed); each thread reads into one reused buffer (no allocation per file).
The two targets this machine cannot meet, with the figures behind them printed above by the same run: md5+sha256 on
the small files is compute-bound (md5 alone is ~0.58 GB/s per core), so a single pass saves only one read of each
file, worth at most ~1.15-1.2x here whatever the parallelism; the second pass's helper start-up makes up the rest
(1.12-1.27x across this session's runs). On the 1 GiB file one pass gains more because the pipeline runs md5 and
sha256 on two cores at once. And md5 cannot use a second core on one file, so the 1 GiB figure against `dvc add` is
whatever `dvc add` costs that day (5.9-8.7 s in this session's runs, 11 s in ../shared/DEPENDENCIES.md).
"""


def _write_results(path: Path, lines: list[str]) -> None:
    """Replace (or append) the ``## bench_hashing.py`` section, leaving every other section alone."""
    command = "`.venv/bin/python bench/bench_hashing.py --results bench/RESULTS.md`"
    section = "\n".join(
        [
            "## bench_hashing.py",
            "",
            f"Command: {command} (2 cores, files in the page cache, {time.strftime('%Y-%m-%d')}).",
            "",
            *lines,
            "",
            *_NOTES.strip("\n").splitlines(),
            "",
        ]
    )
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find("## bench_hashing.py")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + ("" if end < 0 else text[end + 1 :])
    path.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
