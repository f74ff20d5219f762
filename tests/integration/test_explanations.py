"""``reprise.log_model_explanations`` on models as users build them: scikit-learn pipelines on data with gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

import reprise
from reprise.config import load_settings


@pytest.mark.parametrize("family", ["linear", "forest", "neighbours"])
def test_a_pipeline_on_data_with_missing_values_gets_its_shap_plots(tmp_project: Path, family: str) -> None:
    import mlflow
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    features = features.iloc[:, :6].copy()
    features.iloc[::7, 0] = np.nan
    last = {
        "linear": LogisticRegression(max_iter=500),
        "forest": RandomForestClassifier(n_estimators=10, random_state=0),
        "neighbours": KNeighborsClassifier(),
    }[family]
    model = make_pipeline(SimpleImputer(), StandardScaler(), last).fit(features, target)
    with reprise.start_run("explained") as run:
        logged = reprise.log_model_explanations(model, features.iloc[:60], target.iloc[:60], task="classification")
    assert {"plots/shap_summary.png", "plots/shap_importance.png", "plots/confusion_matrix.png"} <= set(logged)
    client = MlflowClient(tracking_uri=load_settings().tracking_uri)
    sizes = {Path(item.path).name: item.file_size for item in client.list_artifacts(run.run_id, "plots")}
    assert sizes["shap_summary.png"] > 1000 and sizes["shap_importance.png"] > 1000
    assert mlflow.active_run() is None
