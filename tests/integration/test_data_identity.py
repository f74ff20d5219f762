"""Data identity where data is compared, on real git, DVC and the metadata store in a temp project.

Versions record the content digest and commit their ``.dvc`` file; ``data diff``, ``data verify`` and the data check
of a reproduction name a changed table with the finer verdict.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import reprise
from reprise.data.diff import diff_data
from reprise.data.manifest import build_manifest
from reprise.data.tablediff import DIFFERENT_CONTENT, SAME_TABLE
from reprise.data.versions import get_data_version, load_version_manifest
from reprise.errors import DataError, ManifestMismatchError
from reprise.reproduce._data import verify_inputs


def _frame(rows: int = 30) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [18 + (i * 7) % 60 for i in range(rows)],
            "city": [["paris", "lyon", "nice"][i % 3] for i in range(rows)],
            "income": [(i * 13) % 1000 / 10 for i in range(rows)],
        }
    )


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def test_the_recorded_commit_holds_the_dvc_file_and_brings_the_version_back(tmp_project: Path) -> None:
    path = tmp_project / "data" / "train.csv"
    path.parent.mkdir()
    _frame().to_csv(path, index=False)
    first = path.read_bytes()
    (tmp_project / "notes.txt").write_text("staged by the user, not for this commit\n")
    _git(tmp_project, "add", "notes.txt")
    v1 = reprise.version_data("data/train.csv", version_name="train-v1")
    assert v1.git_commit == _git(tmp_project, "rev-parse", "HEAD")
    assert (
        _git(tmp_project, "show", f"{v1.git_commit}:data/train.csv.dvc") + "\n"
        == (path.parent / "train.csv.dvc").read_text()
    )
    assert _git(tmp_project, "show", "--name-only", "--format=%s", v1.git_commit).splitlines() == [
        "reprise: data version train-v1 (data/train.csv.dvc)",
        "",
        "data/.gitignore",
        "data/train.csv.dvc",
    ]
    assert _git(tmp_project, "diff", "--cached", "--name-only") == "notes.txt"  # the user's staging is left alone
    _frame(45).to_csv(path, index=False)
    v2 = reprise.version_data("data/train.csv", version_name="train-v2")
    assert v2.git_commit not in (None, v1.git_commit)
    again = reprise.version_data("data/train.csv", version_name="train-v2-again")  # nothing new to commit
    assert again.git_commit == v2.git_commit
    _git(tmp_project, "checkout", "-q", v1.git_commit)
    subprocess.run([sys.executable, "-m", "dvc", "checkout", "-q", "--force"], cwd=tmp_project, check=True)
    assert path.read_bytes() == first


def test_a_version_records_the_content_digest_and_names_a_table_already_versioned(tmp_project: Path) -> None:
    data = tmp_project / "data"
    data.mkdir()
    _frame().to_csv(data / "train.csv", index=False)
    first = reprise.version_data("data/train.csv", version_name="train-v1")
    _frame()[["income", "city", "age"]].to_csv(
        data / "copy.csv", index=False, lineterminator="\r\n", encoding="utf-8-sig"
    )
    copy = reprise.version_data("data/copy.csv", version_name="copy-v1")
    assert first.dvc_md5 != copy.dvc_md5
    assert first.content_digest == copy.content_digest is not None
    assert copy.tables[0].same_content_as == ("train-v1",)
    assert first.tables[0].same_content_as == ()
    # the BOM-prefixed first column is named without it in the schema and the manifest's metadata
    assert copy.tables[0].columns[0].name == "income"
    assert copy.tables[0].identity is not None
    assert copy.tables[0].identity.columns[0].name == "income"
    described = load_version_manifest("copy-v1").metadata["reprise.tables"]
    assert described == {
        "copy.csv": {"content_digest": copy.content_digest, "rows": 30, "columns": ["income", "city", "age"]}
    }
    assert get_data_version("copy-v1").tables[0].same_content_as == ("train-v1",)


def test_diff_and_verify_give_the_finer_verdict(tmp_project: Path) -> None:
    path = tmp_project / "data" / "train.csv"
    path.parent.mkdir()
    _frame().to_csv(path, index=False, encoding="utf-8-sig")
    reprise.version_data("data/train.csv", version_name="train-v1")
    _frame().to_csv(path, index=False, lineterminator="\r\n", encoding="utf-8-sig")
    same = diff_data("train-v1")
    assert [(c.path, c.verdict, c.layout) for c in same.contents] == [
        ("train.csv", SAME_TABLE, ("line endings: lf -> crlf",))
    ]
    assert same.tables == ()
    [checked] = reprise.verify_data("train-v1")
    assert not checked.ok
    assert [change.verdict for change in checked.tables] == [SAME_TABLE]
    # another dataset saved under the old name
    pd.DataFrame({"age": [1, 2], "plan": ["a", "b"], "income": ["x", "y"]}).to_csv(path, index=False)
    other = diff_data("train-v1")
    [change] = other.contents
    assert change.verdict == DIFFERENT_CONTENT
    assert (change.columns_added, change.columns_removed) == (("plan",), ("city",))
    assert [(c.column, c.a, c.b) for c in change.columns_retyped] == [("income", "float", "string")]
    assert (change.rows_added, change.rows_removed) == (2, 30)
    assert list(change.removed[0].cells) == ["age", "city", "income"]  # no BOM in the first name
    assert other.tables[0].drift[0].column == "age"
    [checked] = reprise.verify_data("train-v1")
    assert checked.tables[0].summary().startswith("different content: 2 rows added, 30 removed, column added: plan")


def test_reproduction_names_a_changed_input_table_with_its_verdict(tmp_project: Path) -> None:
    path = tmp_project / "data" / "train.csv"
    path.parent.mkdir()
    _frame().to_csv(path, index=False)
    reprise.version_data("data/train.csv", version_name="train-v1")  # the recorded bytes go to the DVC cache
    manifest = build_manifest(["data/train.csv"], base=tmp_project)  # a run's input manifest
    assert verify_inputs(manifest, tmp_project, "run1").verified
    _frame().drop(index=4).to_csv(path, index=False)
    with pytest.raises(ManifestMismatchError) as raised:
        verify_inputs(manifest, tmp_project, "run1")
    assert "changed: data/train.csv" in raised.value.message
    assert "different content: 0 rows added, 1 removed" in raised.value.message


def test_cli_diff_prints_the_verdict_and_the_rows(tmp_project: Path) -> None:
    path = tmp_project / "train.csv"
    _frame().to_csv(path, index=False)
    reprise.version_data("train.csv", version_name="train-v1")
    frame = _frame()
    frame.loc[2, "city"] = "brest"
    frame.to_csv(path, index=False)
    done = subprocess.run(
        [sys.executable, "-m", "reprise", "data", "diff", "train-v1", "--json"],
        cwd=tmp_project,
        capture_output=True,
        text=True,
        check=True,
    )
    [change] = json.loads(done.stdout)["contents"]
    assert (change["verdict"], change["rows_added"], change["rows_removed"]) == (DIFFERENT_CONTENT, 1, 1)
    assert change["added"][0] == {"row": 3, "cells": {"age": "32", "city": "brest", "income": "2.6"}}
    text = subprocess.run(
        [sys.executable, "-m", "reprise", "data", "diff", "train-v1"],
        cwd=tmp_project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "train.csv: different content (rows 30 -> 30)" in text
    assert "+ row 3: age=32, city=brest, income=2.6" in text


def test_the_dvc_file_commit_without_a_git_identity_and_its_refusal_by_a_hook(
    tmp_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_project.parent))  # no ~/.gitconfig
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("EMAIL", "")
    (tmp_project / "a.csv").write_text("x\n1\n")
    made = reprise.version_data("a.csv", version_name="a1")
    assert (
        _git(tmp_project, "log", "-1", "--format=%an <%ae>", made.git_commit or "") == "Reprise <data@reprise.invalid>"
    )
    hook = tmp_project / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'no commits today' >&2\nexit 1\n")
    hook.chmod(0o755)
    (tmp_project / "b.csv").write_text("x\n2\n")
    with pytest.raises(DataError, match=r"git commit of the \.dvc file of data version b1 failed: no commits today"):
        reprise.version_data("b.csv", version_name="b1")
    assert [v.name for v in reprise.list_data_versions()] == ["a1"]
