"""Stage 2: a scikit-learn feature pipeline, fitted on the training rows only and logged once in MLflow."""

from __future__ import annotations

import mlflow
import pandas as pd
from common import ROOT, TARGET, load_params, seeds
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import reprise

params = load_params()["featurize"]
seeds()
prepared = ROOT / "data" / "prepared"
train = pd.read_csv(prepared / "train.csv")
test = pd.read_csv(prepared / "test.csv")
features = [column for column in train.columns if column != TARGET]

steps = [("impute", SimpleImputer(strategy=params["impute"]))]
if params["scale"]:
    steps.append(("scale", StandardScaler()))
pipeline = Pipeline(steps).set_output(transform="pandas").fit(train[features])

out = ROOT / "data" / "features"
out.mkdir(parents=True, exist_ok=True)
for name, frame in (("train", train), ("test", test)):
    transformed = pipeline.transform(frame[features])
    transformed[TARGET] = frame[TARGET].to_numpy()
    transformed.to_csv(out / f"{name}.csv", index=False)

with mlflow.start_run():
    reprise.log_model(pipeline, train[features].head(5), name="featurizer")
print(f"featurized {len(features)} columns")
