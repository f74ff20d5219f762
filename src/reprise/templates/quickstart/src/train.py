"""Stage 3: train each candidate as its own MLflow run (autologged, model logged once), pick the best."""

from __future__ import annotations

import json
import os

import mlflow
import pandas as pd
from common import ROOT, TARGET, candidates, is_better, load_params, score, seeds

import reprise

params = load_params()
task, train_params = params["task"], params["train"]
seed = seeds()
train = pd.read_csv(ROOT / "data" / "features" / "train.csv")
test = pd.read_csv(ROOT / "data" / "features" / "test.csv")
X_train, y_train = train.drop(columns=[TARGET]), train[TARGET]
X_test, y_test = test.drop(columns=[TARGET]), test[TARGET]

# Autolog records params and training metrics; the model is logged once, by reprise.log_model, with pinned
# requirements (MLflow's own requirement inference costs ~10 s per model).
mlflow.autolog(log_models=False, log_datasets=False, silent=True)
metric = train_params["metric"]
results: dict[str, dict[str, object]] = {}
best_name, best_value = None, None
with mlflow.start_run():  # the stage's run, opened by `reprise run`
    for name, model in candidates(task, train_params, seed).items():
        with mlflow.start_run(run_name=name, nested=True) as run:
            model.fit(X_train, y_train)
            logged = reprise.log_model(model, X_train.head(5))
            metrics = score(task, y_test, model.predict(X_test))
            mlflow.log_metrics(metrics)
            reprise.log_model_explanations(model, X_test, y_test, task=task)
        results[name] = {"run_id": run.info.run_id, "model_uri": logged.model_uri, "metrics": metrics}
        print(f"{name:>14}: {metric} = {metrics[metric]:.4f}")
        if is_better(metric, metrics[metric], best_value):
            best_name, best_value = name, metrics[metric]

best = results[best_name]
info = {
    "best_model": best_name,
    "run_id": best["run_id"],
    "model_uri": f"runs:/{best['run_id']}/model",
    "logged_model_uri": best["model_uri"],
    "metric": metric,
    "metrics": best["metrics"],
    "candidates": results,
}
(ROOT / "best_model_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
# Register the best model; the quality gates in params.yaml decide whether it gets the `staging` alias.
# A reproduction re-runs this stage to compare results: it must not add versions or move aliases.
if "REPRISE_REPRODUCTION_OF" not in os.environ:
    print(reprise.register_model(best["run_id"], train_params["registered_model"]).describe())
scores = {name: result["metrics"] for name, result in results.items()}
(ROOT / "metrics.json").write_text(json.dumps({"best": best["metrics"], **scores}, indent=2, sort_keys=True) + "\n")
print(f"best: {best_name} ({metric} = {best_value:.4f})")
