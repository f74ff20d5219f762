"""Stage 1: clean the raw data, check its schema, split it with the seed."""

from __future__ import annotations

import mlflow
import pandas as pd
from common import ROOT, TARGET, load_params, seeds
from sklearn.model_selection import train_test_split

params = load_params()
seed = seeds()
raw = pd.read_csv(ROOT / "data" / "raw" / "data.csv")

missing = {TARGET} - set(raw.columns)
if missing:
    raise SystemExit(f"data/raw/data.csv: column {TARGET!r} is missing; the last column must be the target")
numeric = raw.drop(columns=[TARGET]).select_dtypes("number")
if numeric.shape[1] != raw.shape[1] - 1:
    raise SystemExit("data/raw/data.csv: every feature column must be numeric")
clean = raw.drop_duplicates().dropna(subset=[TARGET]).reset_index(drop=True)

stratify = clean[TARGET] if params["task"] == "classification" else None
train, test = train_test_split(clean, test_size=params["prepare"]["test_size"], stratify=stratify, **seed.split)
out = ROOT / "data" / "prepared"
out.mkdir(parents=True, exist_ok=True)
train.to_csv(out / "train.csv", index=False)
test.to_csv(out / "test.csv", index=False)

with mlflow.start_run():  # the stage's run, opened by `reprise run`
    mlflow.log_metrics(
        {"rows_raw": len(raw), "rows_clean": len(clean), "rows_train": len(train), "rows_test": len(test)}
    )
print(f"prepared {len(train)} training and {len(test)} test rows")
