"""Stage 4: load the best model back from MLflow, evaluate it on the test rows, fingerprint its predictions."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
from common import ROOT, TARGET, load_params, score, seeds

import reprise

task = load_params()["task"]
seeds()
info = json.loads((ROOT / "best_model_info.json").read_text())
test = pd.read_csv(ROOT / "data" / "features" / "test.csv")
model = mlflow.pyfunc.load_model(info["model_uri"])  # MLflow is the single source of truth for models
predicted = model.predict(test.drop(columns=[TARGET]))
metrics = score(task, test[TARGET], predicted)

with mlflow.start_run():
    mlflow.log_metrics({f"test_{key}": value for key, value in metrics.items()})
    mlflow.set_tag("reprise.evaluated_model", info["model_uri"])
    reprise.log_predictions(predicted)
reports = ROOT / "reports"
reports.mkdir(exist_ok=True)
evaluation = {"model": info["best_model"], "model_uri": info["model_uri"], **metrics}
(reports / "evaluation.json").write_text(json.dumps(evaluation, indent=2, sort_keys=True) + "\n")
print(json.dumps(metrics, indent=2, sort_keys=True))
