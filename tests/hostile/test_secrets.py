"""Hostile: secrets planted around a real run must not reach anything Reprise records or prints (issue 18).

Credential files (by name and by content), a secret added to a tracked file, secrets on the wrapped command line and
in captured environment variables all go through ``reprise run`` as a user types it; then every tag, param, metric
key and artifact of the run is read back from the real MLflow store, and the store files themselves are searched.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from mlflow import MlflowClient

from reprise.config import load_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    Cli = Callable[..., subprocess.CompletedProcess[str]]

# Assembled at run time so that no secret scanner (ours or a code host's) flags this file itself.
_AWS_UNTRACKED = "AKIA" + "HOSTILE0UNTRACK1"
_AWS_TRACKED = "AKIA" + "HOSTILE0TRACKED2"
_GITHUB = "ghp_" + "Hx7" * 12
_SECRETS = {
    "credentials.json": "creds-json-Pl4nt-7Qa",
    "secrets.yaml": "secrets-yaml-Pl4nt-9Zb",
    "service-account.json": "sa-key-body-Pl4nt-3Xc",
    "notes.txt (innocent name)": _AWS_UNTRACKED,
    "tracked diff": _AWS_TRACKED,
    "-k": "argv-k-Pl4nt-5Yd",
    "--header": "bearer-Pl4nt-T0ken-8We",
    "--token=": "argv-eq-Pl4nt-2Vf",
    "positional token": _GITHUB,
    "env by name": "env-pw-Pl4nt-4Ug",
    "env by content": "env-url-Pl4nt-6Th",
}

# Like many training scripts, the child prints its arguments.
_CHILD = "import sys; print('child saw', len(sys.argv) - 1, 'arguments:', sys.argv[1:])"


def _plant(project: Path) -> None:
    (project / "config.py").write_text("LR = 0.1\n")
    subprocess.run(["git", "add", "config.py"], cwd=project, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "config"], cwd=project, check=True)
    (project / "config.py").write_text(f'LR = 0.1\nAWS_ACCESS_KEY_ID = "{_AWS_TRACKED}"\n')
    (project / "credentials.json").write_text(json.dumps({"client_secret": _SECRETS["credentials.json"]}))
    (project / "secrets.yaml").write_text(f"db_password: {_SECRETS['secrets.yaml']}\n")
    service_account = {
        "type": "service_account",
        "project_id": "demo",
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{_SECRETS['service-account.json']}\n-----END PRIVATE KEY-----\n",
    }
    (project / "service-account.json").write_text(json.dumps(service_account))
    (project / "notes.txt").write_text(f"the bucket key is {_AWS_UNTRACKED}\n")
    (project / "train_notes.md").write_text("an innocent untracked file, kept in the patch\n")


def _everything_recorded(project: Path, run_id: str, tmp_path: Path) -> dict[str, str]:
    """Every tag, param, metric key and artifact of the run, read back through MlflowClient; plus the store files."""
    client = MlflowClient(tracking_uri=load_settings(project).tracking_uri)
    run = client.get_run(run_id)
    seen = {
        "tags": json.dumps(run.data.tags),
        "params": json.dumps(run.data.params),
        "metrics": json.dumps(sorted(run.data.metrics)),
        "info": json.dumps({"name": run.info.run_name, "artifact_uri": run.info.artifact_uri}),
    }
    pending = [""]
    while pending:
        for item in client.list_artifacts(run_id, pending.pop() or None):
            if item.is_dir:
                pending.append(item.path)
                continue
            local = Path(client.download_artifacts(run_id, item.path, str(tmp_path / "downloaded")))
            seen[f"artifact {item.path}"] = local.read_bytes().decode("utf-8", "replace")
    for path in sorted((project / ".reprise").rglob("*")):
        if path.is_file():
            seen[f"store file {path.relative_to(project)}"] = path.read_bytes().decode("utf-8", "replace")
    return seen


def test_reprise_run_records_no_secret_anywhere(cli: Cli, tmp_project: Path, tmp_path: Path) -> None:
    _plant(tmp_project)
    argv = [sys.executable, "-c", _CHILD, "-k", _SECRETS["-k"], "--epochs", "3"]
    argv += ["--header", f"Authorization: Bearer {_SECRETS['--header']}", f"--token={_SECRETS['--token=']}", _GITHUB]
    env = {
        "MLFLOW_TRACKING_PASSWORD": _SECRETS["env by name"],
        "OMP_PLANTED_NOTE": f"https://bob:{_SECRETS['env by content']}@example.com/x",
    }
    result = cli("run", "--json", "--", *argv, cwd=tmp_project, env=env)
    assert result.returncode == 0, result.stderr
    child_line, summary_json = result.stdout.split("\n", 1)
    assert child_line.startswith("child saw 8 arguments")  # the command itself got every secret
    assert _SECRETS["-k"] in child_line  # ... and echoed them to the terminal, which is the user's own business
    summary = json.loads(summary_json)

    seen = _everything_recorded(tmp_project, summary["run_id"], tmp_path)
    seen["stdout (Reprise's part)"], seen["stderr"] = summary_json, result.stderr
    leaks = [(what, where) for what, secret in _SECRETS.items() for where, text in seen.items() if secret in text]
    echoed = [(what, where) for what, where in leaks if where.endswith("stdout.txt")]
    assert [leak for leak in leaks if leak not in echoed] == []

    record = json.loads(seen["artifact reprise/record.json"])
    assert record["code"]["command"][3:] == [
        "-k", "***", "--epochs", "3", "--header", "Authorization: ***", "--token=***", "***"
    ]  # fmt: skip
    git = record["code"]["git"]
    assert git["skipped"] == [
        "credentials.json (credential-like name)",
        "notes.txt (holds a secret: AWS access key id)",
        "secrets.yaml (credential-like name)",
        "service-account.json (credential-like name)",
    ]
    assert git["untracked"] == ["train_notes.md"]
    assert git["redacted"] == ["config.py (AWS access key id)"]
    patch = seen["artifact reprise/code.patch"]
    assert "train_notes.md" in patch
    assert '+AWS_ACCESS_KEY_ID = "***"' in patch
    env_vars = json.dumps(record["environment"]["env_vars"])
    assert "MLFLOW_TRACKING_PASSWORD" in env_vars  # recorded by name, valued ***
    assert "https://bob:***@example.com/x" in env_vars
    assert not echoed, f"secrets echoed into reprise/stdout.txt: {sorted({what for what, _ in echoed})}"


def test_serve_json_does_not_print_the_tracking_password(cli: Cli, tmp_path: Path) -> None:
    password = "serve-pw-Pl4nt-1Sa"
    (tmp_path / "reprise.toml").write_text("")
    env = {
        "REPRISE_TRACKING_URI": f"http://alice:{password}@127.0.0.1:9",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }
    result = cli("serve", "nope@champion", "--json", "--port", "9", cwd=tmp_path, env=env, timeout=60)
    # The model is looked up before anything is announced: the one error line names the server, redacted.
    assert result.returncode != 0
    assert "http://alice:***@127.0.0.1:9" in result.stderr
    assert password not in result.stdout
    assert password not in result.stderr


def test_health_and_the_log_do_not_show_the_tracking_password(caplog: pytest.LogCaptureFixture) -> None:
    """A registry outage while serving: MLflow's error quotes the tracking URI, which /health and the log repeat."""
    from reprise.errors import RegistryError
    from reprise.registry.refs import ModelRef
    from reprise.serve.loader import ModelSlot, Prepared
    from reprise.tracking.serving import ColumnSpec, ModelSpec, ServedVersion

    password = "health-pw-Pl4nt-2Rb"
    spec = ModelSpec(inputs=(ColumnSpec("x", "double"),), output_type="double", signature={}, flavors=())
    version = ServedVersion(name="m", version=1, alias="champion", run_id="r1", source="s")

    class Model:
        def __init__(self) -> None:
            self.spec, self.classes, self.model_class = spec, None, "Model"

    def locate(settings: object, name: str, alias: str | None) -> int:
        raise RegistryError(f"API request to http://alice:{password}@mlflow.internal/api/2.0/x failed: refused")

    slot = ModelSlot(
        None,  # type: ignore[arg-type]  # the injected functions ignore it
        Prepared(ref=ModelRef(name="m", alias="champion"), version=version, spec=spec),
        reload_interval=60.0,
        load=lambda settings, served: Model(),  # type: ignore[arg-type,return-value]
        locate=locate,
        describe=lambda *args, **kwargs: version,
    )

    async def outage() -> str | None:
        slot.start()
        while slot.status().state == "loading":
            await asyncio.sleep(0.01)
        await slot.check()
        await slot.stop()
        return slot.status().error

    error = asyncio.run(outage())
    assert error is not None
    assert "http://alice:***@mlflow.internal" in error
    assert password not in error
    assert password not in caplog.text
