"""A small training script to run under ``reprise run``: it logs to the run Reprise opened for it."""

import mlflow
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

import reprise

seeds = reprise.ensure_reproducibility(reprise.load_settings().seed)  # REPRISE_SEED from `reprise run`
X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, **seeds.split)
model = RandomForestClassifier(n_estimators=100, max_depth=6, **seeds.sklearn).fit(X_train, y_train)
predicted = model.predict(X_test)

with mlflow.start_run():  # resumes the run from MLFLOW_RUN_ID
    mlflow.log_params({"n_estimators": 100, "max_depth": 6})
    mlflow.log_metrics({"accuracy": accuracy_score(y_test, predicted), "f1": f1_score(y_test, predicted)})
print(f"accuracy={accuracy_score(y_test, predicted):.4f}")
