"""Stage 3: train each candidate as its own MLflow run (params, training and test metrics, model logged once)."""

from __future__ import annotations

import json
import os

import mlflow
import pandas as pd
from common import ROOT, TARGET, candidates, is_better, load_params, score, seeds
from sklearn.metrics import log_loss

import reprise

params = load_params()
task, train_params = params["task"], params["train"]
seed = seeds()
train = pd.read_csv(ROOT / "data" / "features" / "train.csv")
test = pd.read_csv(ROOT / "data" / "features" / "test.csv")
X_train, y_train = train.drop(columns=[TARGET]), train[TARGET]
X_test, y_test = test.drop(columns=[TARGET]), test[TARGET]


def training_metrics(model: object) -> dict[str, float]:
    """How the model fits its own training rows (``training_*``), beside the test metrics."""
    metrics = {f"training_{key}": value for key, value in score(task, y_train, model.predict(X_train)).items()}
    if task == "classification":
        metrics["training_log_loss"] = log_loss(y_train, model.predict_proba(X_train))
    return metrics


# Params and metrics are logged explicitly (mlflow.autolog would also draw training-set plots: seconds per model);
# the model is logged once, by reprise.log_model, with pinned requirements (MLflow's own inference: ~10 s a model).
metric = train_params["metric"]
results: dict[str, dict[str, object]] = {}
best_name, best_value = None, None
with mlflow.start_run():  # the stage's run, opened by `reprise run`
    for name, model in candidates(task, train_params, seed).items():
        with mlflow.start_run(run_name=name, nested=True) as run:
            model.fit(X_train, y_train)
            mlflow.log_params(model.get_params())
            mlflow.log_metrics(training_metrics(model))
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
