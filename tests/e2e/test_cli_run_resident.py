"""``reprise run`` hands its store writes to the resident process: the wrapper stays light, the run is the same.

Each test drives ``python -m reprise run`` in a real project and reads the run back with a plain ``MlflowClient``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow import MlflowClient

from reprise.config import load_settings

if TYPE_CHECKING:
    from conftest import Cli

HEAVY = ("mlflow", "sqlalchemy", "numpy", "pandas", "sklearn", "dvc")

#: ``reprise run`` in this process, then the heavy libraries it loaded, on stderr's last line.
_PROBE = """
import sys
from reprise.cli.main import main
try:
    main(sys.argv[1:])
finally:
    print("HEAVY=" + ",".join(sorted(name for name in {heavy!r} if name in sys.modules)), file=sys.stderr)
"""

_COMMAND = "echo printed; echo '{\"auc\": 0.9}' > result.json"


def _run(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), "run", "--json", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def _summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr[-3000:]
    summary: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    return summary


def _record(client: MlflowClient, run_id: str, folder: Path) -> dict[str, Any]:
    local = client.download_artifacts(run_id, "reprise/record.json", str(folder))
    record: dict[str, Any] = json.loads(Path(local).read_text())
    return record


def _artifacts(client: MlflowClient, run_id: str, path: str = "reprise") -> list[str]:
    found = []
    for item in client.list_artifacts(run_id, path):
        found += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return sorted(found)


def test_the_wrapper_loads_no_heavy_library_and_the_run_is_the_same_as_one_written_in_process(
    tmp_project: Path, tmp_path: Path
) -> None:
    resident = _run(tmp_project, "--", "sh", "-c", _COMMAND)
    # The same clean tree for both runs (the output, committed, is rewritten with the same bytes).
    subprocess.run(["git", "add", "-A"], cwd=tmp_project, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "result"], cwd=tmp_project, check=True)
    local = _run(tmp_project, "--", "sh", "-c", _COMMAND, env={**os.environ, "REPRISE_RESIDENT": "0"})
    assert resident.stderr.strip().splitlines()[-1] == "HEAVY="
    assert "mlflow" in local.stderr.strip().splitlines()[-1]
    client = MlflowClient(tracking_uri=load_settings(tmp_project).tracking_uri)
    runs = [client.get_run(_summary(result)["run_id"]) for result in (resident, local)]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert _artifacts(client, run.info.run_id) == [
            "reprise/outputs/result.json",
            "reprise/record.json",
            "reprise/requirements.txt",
            "reprise/stdout.txt",
            "reprise/system_info.json",
        ]
        (tmp_path / run.info.run_id).mkdir()
        record = _record(client, run.info.run_id, tmp_path / run.info.run_id)
        assert record["status"] == "FINISHED"
        assert record["outputs"]["manifest"]["files"][0]["path"] == "result.json"
    assert runs[0].data.tags.keys() == runs[1].data.tags.keys()
    assert runs[0].data.tags["reprise.env_digest"] == runs[1].data.tags["reprise.env_digest"]


def test_a_failing_command_is_recorded_failed_through_the_resident(cli: Cli, tmp_project: Path) -> None:
    result = cli("run", "--json", "--", "sh", "-c", "exit 4", cwd=tmp_project)
    assert result.returncode == 4, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    client = MlflowClient(tracking_uri=load_settings(tmp_project).tracking_uri)
    assert client.get_run(summary["run_id"]).info.status == "FAILED"


def test_a_store_replaced_since_the_resident_opened_it_is_written_by_the_wrapper(cli: Cli, tmp_project: Path) -> None:
    first = cli("run", "--json", "--", "true", cwd=tmp_project)
    assert first.returncode == 0, first.stderr[-3000:]
    database = tmp_project / ".reprise" / "mlflow.db"
    database.unlink()  # a user starting over: the resident's pooled connections point at the old file
    second = cli("run", "--json", "--", "true", cwd=tmp_project)
    assert second.returncode == 0, second.stderr[-3000:]
    client = MlflowClient(tracking_uri=load_settings(tmp_project).tracking_uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], "")
    assert [run.info.run_id for run in runs] == [json.loads(second.stdout)["run_id"]]
