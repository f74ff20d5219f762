"""``reprise data ...`` as a user types it: manifest, validate, version, list, checkout, verify, diff."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Cli


def _csv(path: Path, rows: int, shift: int = 0) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{(i * 7) % 90 + shift},{['a', 'b', 'c'][i % 3]}\n" for i in range(rows))
    data = ("x,kind\n" + body).encode()
    path.write_bytes(data)
    return data


def test_manifest_writes_and_validates_listing_every_problem(cli: Cli, tmp_project: Path) -> None:
    folder = tmp_project / "data"
    for name in ("a.txt", "b.txt", "sub/c.txt", "skip.tmp"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(name * 100)
    made = cli(
        "data",
        "manifest",
        "data",
        "--algo",
        "sha256",
        "--algo",
        "blake3",
        "--exclude",
        "*.tmp",
        "-o",
        "m.json",
        "--json",
        cwd=tmp_project,
    )
    assert made.returncode == 0, made.stderr
    summary = json.loads(made.stdout)
    assert (summary["total_files"], summary["algorithms"]) == (3, ["blake3", "sha256"])
    saved = json.loads((tmp_project / "m.json").read_text())
    assert saved["manifest_version"] == 2
    assert saved["digest"] == summary["digest"]
    same = cli("data", "manifest", "data", "--validate", "m.json", cwd=tmp_project)
    assert same.returncode == 0, same.stderr
    assert "OK" in same.stderr
    (folder / "a.txt").write_text("A" * 500)  # same size, other bytes
    (folder / "sub/c.txt").unlink()
    (folder / "new.txt").write_text("new")
    bad = cli("data", "manifest", "data", "--validate", "m.json", "--json", cwd=tmp_project)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert (report["ok"], report["missing"], report["extra"]) == (False, ["sub/c.txt"], ["new.txt"])
    assert [m["path"] for m in report["mismatched"]] == ["a.txt"]
    text = cli("data", "manifest", "data", "--validate", "m.json", cwd=tmp_project)
    assert text.returncode == 1
    assert text.stdout.splitlines() == ["data: missing: sub/c.txt", "data: extra: new.txt", text.stdout.splitlines()[2]]
    assert text.stdout.splitlines()[2].startswith("data: changed: a.txt (sha256 ")


def test_version_list_checkout_verify_and_diff(cli: Cli, tmp_project: Path) -> None:
    path = tmp_project / "data" / "train.csv"
    first = _csv(path, 400)
    made = cli(
        "data",
        "version",
        "data/train.csv",
        "--name",
        "v1",
        "--meta",
        "source=crm",
        "--meta",
        "note=a=b",
        "--json",
        cwd=tmp_project,
    )
    assert made.returncode == 0, made.stderr
    version = json.loads(made.stdout)
    assert (version["name"], version["rows"], version["columns"]) == ("v1", 400, 2)
    assert version["metadata"] == {"source": "crm", "note": "a=b"}
    _csv(path, 450, shift=40)
    assert cli("data", "version", "data/train.csv", "--name", "v2", cwd=tmp_project).returncode == 0
    listed = cli("data", "list", "--json", cwd=tmp_project)
    assert [(v["name"], v["file_path"], v["rows"]) for v in json.loads(listed.stdout)] == [
        ("v1", "data/train.csv", 400),
        ("v2", "data/train.csv", 450),
    ]
    assert all(v["version_id"] for v in json.loads(listed.stdout))
    diff = cli("data", "diff", "v1", "v2", "--json", "--html", "report.html", cwd=tmp_project)
    assert diff.returncode == 0, diff.stderr
    [table] = json.loads(diff.stdout)["tables"]
    assert (table["rows_a"], table["rows_b"]) == (400, 450)
    assert "data:image/png;base64," in (tmp_project / "report.html").read_text()
    out = cli("data", "checkout", "v1", cwd=tmp_project)
    assert out.returncode == 0, out.stderr
    assert path.read_bytes() == first
    assert cli("data", "verify", "--rehash", cwd=tmp_project).returncode == 0
    path.write_bytes(first.replace(b"x,kind", b"y,kind"))
    failed = cli("data", "verify", "--json", cwd=tmp_project)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)[0]["name"] == "v1"


def test_errors_are_one_line_with_a_hint(cli: Cli, tmp_project: Path) -> None:
    _csv(tmp_project / "a.csv", 3)
    missing = cli("data", "checkout", "nope", cwd=tmp_project)
    assert missing.returncode == 3
    assert "error: no data version named nope" in missing.stderr
    assert "hint: reprise data list" in missing.stderr
    bad_meta = cli("data", "version", "a.csv", "--name", "a2", "--meta", "novalue", cwd=tmp_project)
    assert bad_meta.returncode == 2
    assert "is not key=value" in bad_meta.stderr
    subprocess.run(["git", "add", "a.csv"], cwd=tmp_project, check=True)
    in_git = cli("data", "version", "a.csv", "--name", "a3", cwd=tmp_project)
    assert in_git.returncode != 0
    assert in_git.stderr.splitlines() == [
        "error: a.csv is tracked by git; DVC can only version files git does not track",
        "  hint: git rm -r --cached a.csv && git commit -m 'stop tracking a.csv', then version it again",
    ]
    assert "Traceback" not in missing.stderr + bad_meta.stderr
