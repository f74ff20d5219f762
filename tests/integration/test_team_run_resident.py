"""``reprise run`` against the team's tracking server: the resident process writes the run through the server.

A member's project points at the session's team server (``mlflow server`` with basic auth and proxied artifacts, on
PostgreSQL); ``python -m reprise run`` captures a command twice, its wrapper loading no MLflow, and a plain
``MlflowClient`` reads both runs back from the server with their record.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow import MlflowClient

if TYPE_CHECKING:
    import pytest

    from conftest import CleanEnv, Team

_PROBE = """
import sys
from reprise.cli.main import main
try:
    main(sys.argv[1:])
finally:
    heavy = sorted(name for name in ("mlflow", "sqlalchemy", "numpy") if name in sys.modules)
    print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


def test_reprise_run_through_the_team_server_is_written_by_the_resident(
    team: Team, tmp_path: Path, clean_env: CleanEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reprise.project import TeamLink, init_project

    credentials = {"MLFLOW_TRACKING_USERNAME": "editor", "MLFLOW_TRACKING_PASSWORD": team.passwords["editor"]}
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)
    root = tmp_path / "carol"
    init_project(root, create_stores=True, team=TeamLink(team.url, team.store_uri, team.dvc_remote))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=root, check=True)
    run_ids = []
    for attempt in range(2):
        result = subprocess.run(
            [sys.executable, "-c", _PROBE, "run", "--json", "-e", "resident", "--", "sh", "-c", f"echo {attempt}"],
            cwd=root,
            env=clean_env(**credentials),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stderr.strip().splitlines()[-1] == "HEAVY="
        run_ids.append(json.loads(result.stdout[result.stdout.index("{") :])["run_id"])
    client = MlflowClient(tracking_uri=team.url)
    for run_id in run_ids:
        (tmp_path / run_id).mkdir()
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # the server's store, proxied
        listed = {item.path for item in client.list_artifacts(run_id, "reprise")}
        assert {"reprise/record.json", "reprise/stdout.txt", "reprise/requirements.txt"} <= listed
        local = client.download_artifacts(run_id, "reprise/record.json", str(tmp_path / run_id))
        record = json.loads(Path(local).read_text())
        assert (record["run_id"], record["status"]) == (run_id, "FINISHED")
