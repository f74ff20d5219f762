"""``reprise reproduce`` does not trust a record it did not write: an edited or corrupt ``record.json`` is refused.

A captured run's record sits in the artifact store; its sha256 is a tag in the tracking database. An attacker (or an
accident) who edits the record in the artifact store, e.g. to change the command, gets a one-line refusal with exit
code 5 before anything runs; so does a truncated record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import pytest
from mlflow import MlflowClient

if TYPE_CHECKING:
    from conftest import Cli


def _captured(cli: Cli, root: Path) -> tuple[str, Path]:
    done = cli("run", "--json", "--", "python", "-c", "print('score 0.5')", cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = json.loads(done.stdout[done.stdout.index("{\n") :])["run_id"]
    client = MlflowClient(f"sqlite:///{root / '.reprise' / 'mlflow.db'}")
    artifacts = Path(unquote(urlparse(client.get_run(run_id).info.artifact_uri).path))
    return run_id, artifacts / "reprise" / "record.json"


def _edit_command(path: Path, marker: Path) -> None:
    record = json.loads(path.read_text())
    record["code"]["command"] = ["python", "-c", f"open({str(marker)!r}, 'w').write('ran')"]
    path.write_text(json.dumps(record, sort_keys=True))


@pytest.mark.parametrize(
    ("alter", "message"),
    [
        ("edit", "does not match the digest taken when it was captured"),
        ("truncate", "does not match the digest taken when it was captured"),
        ("truncate-undigested", "is not a valid record"),
    ],
    ids=["edited-command", "truncated", "truncated-record-without-digest"],
)
def test_an_altered_record_is_refused_with_exit_5_and_nothing_runs(
    cli: Cli, tmp_project: Path, alter: str, message: str
) -> None:
    run_id, record = _captured(cli, tmp_project)
    marker = tmp_project / "planted-command-ran"
    if alter == "edit":
        _edit_command(record, marker)
    else:
        record.write_bytes(record.read_bytes()[:100])
    if alter == "truncate-undigested":  # a record captured before digests were taken
        MlflowClient(f"sqlite:///{tmp_project / '.reprise' / 'mlflow.db'}").delete_tag(run_id, "reprise.record_digest")
    done = cli("reproduce", run_id, "--in-place", cwd=tmp_project)
    assert done.returncode == 5, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    first = done.stderr.strip().splitlines()[0]
    assert first.startswith("error: ") and message in first and run_id in first
    assert not marker.exists()
