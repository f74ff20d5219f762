"""``reprise pipeline ...`` as a user types it: version from YAML and from Python, list, show, fit, apply.

Each ``reprise`` process pays seconds of MLflow and skops start-up, so the commands run through the console script's
own entry point (``reprise.cli.main.main``) in this process; the refusal runs as a real subprocess to check its
stream and exit code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from reprise.cli.main import main

if TYPE_CHECKING:
    from conftest import Cli

_STEPS = """\
- name: impute
  type: sklearn.impute.SimpleImputer
  params: {strategy: median}
- name: scale
  type: sklearn.preprocessing.StandardScaler
"""

_MODULE = """\
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

pipeline = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
"""


def test_version_fit_and_apply_from_the_command_line(
    cli: Cli, tmp_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def reprise(*args: str) -> Any:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            main([*args, "--json"])
        captured = capsys.readouterr()
        assert info.value.code == 0, captured.err
        return json.loads(captured.out)

    train = pd.DataFrame({"age": [20.0, 30.0, 40.0, 50.0], "income": [1000.0, None, 3000.0, 5000.0]})
    (tmp_project / "data").mkdir()
    train.to_csv(tmp_project / "data" / "train.csv", index=False)
    pd.DataFrame({"age": [35.0], "income": [None]}).to_csv(tmp_project / "new.csv", index=False)
    (tmp_project / "steps.yaml").write_text(_STEPS)
    (tmp_project / "features.py").write_text(_MODULE)
    reprise("data", "version", "data/train.csv", "--name", "train-v1")

    version = reprise("pipeline", "version", "prep", "steps.yaml")
    assert (version["name"], version["version"]) == ("prep", "1.0.0")
    # The same recipe written in Python is the same version.
    assert reprise("pipeline", "version", "prep", "features:pipeline")["digest"] == version["digest"]

    fit = reprise("pipeline", "fit", "prep@1.0.0", "train-v1")
    applied = reprise("pipeline", "apply", "prep@1.0.0", "new.csv", "-o", "out/features.parquet")
    assert (applied["fit_id"], applied["rows"], applied["columns"]) == (fit["fit_id"], 1, ["age", "income"])
    # Scaled by what train.csv taught it: age mean 35; income imputed with train's median 3000, which is its mean.
    assert pd.read_parquet(tmp_project / "out" / "features.parquet").to_numpy().tolist() == [[0.0, 0.0]]
    assert [f["fit_id"] for f in reprise("pipeline", "show", "prep@1.0.0")["fits"]] == [fit["fit_id"]]
    assert [v["version"] for v in reprise("pipeline", "list")] == ["1.0.0"]

    (tmp_project / "steps.yaml").write_text(_STEPS.replace("median", "mean"))
    clash = cli("pipeline", "version", "prep", "steps.yaml", "--version", "1.0.0", cwd=tmp_project)
    assert (clash.returncode, clash.stdout) == (1, "")
    assert "error: pipeline prep@1.0.0 already exists with other content" in clash.stderr
    assert "hint: give it a new version (e.g. 1.0.1)" in clash.stderr
    assert "Traceback" not in clash.stderr
