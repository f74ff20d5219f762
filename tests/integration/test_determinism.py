"""The determinism proof: seeded models trained in separate Python processes predict bit for bit the same.

Two fresh interpreters (each with its own, random, string-hash seed) run side by side. Each calls
``ensure_reproducibility`` for two seeds, in opposite orders, so what one seed gives cannot depend on what ran before
it. For each seed it builds a data set with scikit-learn (nothing is downloaded), trains a RandomForest, an XGBoost
and a LightGBM classifier and a RandomForest regressor with the returned keywords, and saves the predictions as
``.npy`` files. The same seed must agree byte for byte across the two processes; the other seed must not, or the test
would prove nothing."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reprise.seeding import derive_seed

# find_spec, not importorskip: this process needs none of them, and importing scikit-learn costs seconds.
_MISSING = [name for name in ("sklearn", "xgboost", "lightgbm") if importlib.util.find_spec(name) is None]
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"needs the [ml] extra: {', '.join(_MISSING)} missing")

SEED = 42
OTHER_SEED = 7
OUTPUTS = ("random_forest", "xgboost", "lightgbm", "random_forest_regressor", "python_random", "numpy_global")

TRAIN = """
import random
import sys
import warnings
from pathlib import Path

warnings.simplefilter("error")

import numpy as np
from lightgbm import LGBMClassifier
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import train_test_split
from xgboost import XGBClassifier

from reprise.seeding import ensure_reproducibility


def train(seed: int, out: Path) -> None:
    cfg = ensure_reproducibility(seed)
    out.mkdir()
    X, y = make_classification(n_samples=400, n_features=12, n_informative=6, flip_y=0.05, **cfg.sklearn)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, **cfg.split)

    # Subsampling rows and columns makes every model depend on its seed; n_jobs=2 checks threads do not matter.
    classifiers = {
        "random_forest": RandomForestClassifier(n_estimators=50, max_features=0.5, n_jobs=2, **cfg.sklearn),
        "xgboost": XGBClassifier(n_estimators=50, subsample=0.7, colsample_bytree=0.7, n_jobs=2, **cfg.xgboost),
        "lightgbm": LGBMClassifier(
            n_estimators=50, subsample=0.7, subsample_freq=1, colsample_bytree=0.7, n_jobs=2, **cfg.lightgbm
        ),
    }
    for name, model in classifiers.items():
        model.fit(X_train, y_train)
        np.save(out / f"{name}.npy", model.predict_proba(X_test))

    # The regression target takes noise from NumPy's global state, so it is only repeatable if that was seeded.
    target = X_train[:, 0] * 3.0 + np.random.normal(scale=0.5, size=len(X_train))
    regressor = RandomForestRegressor(n_estimators=50, max_features=0.5, n_jobs=2, **cfg.sklearn).fit(X_train, target)
    # predict() with n_jobs > 1 sums the trees in thread completion order (see DEPENDENCIES.md): predict with one job.
    regressor.set_params(n_jobs=1)
    np.save(out / "random_forest_regressor.npy", regressor.predict(X_test))

    np.save(out / "python_random.npy", np.array([random.random() for _ in range(8)]))
    np.save(out / "numpy_global.npy", np.random.rand(8))


for seed in sys.argv[2].split(","):
    train(int(seed), Path(sys.argv[1]) / seed)
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONHASHSEED"}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env.update(extra)
    return env


def _python(code: str, *args: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"subprocess failed ({done.returncode}):\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train in two processes: "first" does SEED then OTHER_SEED, "second" the other way round."""
    root = tmp_path_factory.mktemp("determinism")
    env = _clean_env()
    orders = {"first": (SEED, OTHER_SEED), "second": (OTHER_SEED, SEED)}
    for name, order in orders.items():
        (root / name).mkdir()
        _python(TRAIN, str(root / name), ",".join(map(str, order)), cwd=root / name, env=env)
    return {name: root / name for name in orders}


def _load(run: Path, seed: int, name: str) -> np.ndarray:
    array: np.ndarray = np.load(run / str(seed) / f"{name}.npy", allow_pickle=False)
    return array


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(array.tobytes()).hexdigest()


@pytest.mark.parametrize("seed", [SEED, OTHER_SEED], ids=[f"seed-{SEED}", f"seed-{OTHER_SEED}"])
@pytest.mark.parametrize("name", OUTPUTS, ids=OUTPUTS)
def test_same_seed_gives_bitwise_identical_predictions_across_processes(
    runs: dict[str, Path], name: str, seed: int
) -> None:
    first, second = _load(runs["first"], seed, name), _load(runs["second"], seed, name)
    assert first.dtype == second.dtype
    assert first.shape == second.shape
    assert np.array_equal(first, second)
    assert _sha256(first) == _sha256(second)


@pytest.mark.parametrize("name", OUTPUTS, ids=OUTPUTS)
def test_a_different_seed_gives_different_predictions(runs: dict[str, Path], name: str) -> None:
    # Without this the test above would also pass if the seed were ignored and every model were deterministic anyway.
    assert not np.array_equal(_load(runs["first"], SEED, name), _load(runs["first"], OTHER_SEED, name))


def test_derive_seed_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    names = ["fold-0", "model", "ünïcödé", ""]
    code = "import json, sys; from reprise.seeding import derive_seed; print(json.dumps([derive_seed(42, n) for n in json.loads(sys.argv[1])]))"  # noqa: E501
    expected = [derive_seed(42, name) for name in names]
    for hash_seed in ("0", "12345", "random"):
        out = _python(code, json.dumps(names), cwd=tmp_path, env=_clean_env(PYTHONHASHSEED=hash_seed))
        assert json.loads(out) == expected, f"PYTHONHASHSEED={hash_seed}"


def test_seeding_imports_no_framework_and_sets_the_hash_seed_for_children(tmp_path: Path) -> None:
    code = """
import json, os, subprocess, sys
import reprise.seeding
heavy = ("numpy", "sklearn", "torch", "tensorflow")
at_import = [m for m in heavy if m in sys.modules]
cfg = reprise.seeding.ensure_reproducibility(1234)
after_seeding = [m for m in ("torch", "tensorflow") if m in sys.modules]
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ['PYTHONHASHSEED'])"],
                       capture_output=True, text=True, check=True).stdout.strip()
print(json.dumps({"at_import": at_import, "after_seeding": after_seeding, "seeded": cfg.seeded, "child": child}))
"""
    report = json.loads(_python(code, cwd=tmp_path, env=_clean_env()))
    assert report == {"at_import": [], "after_seeding": [], "seeded": ["random", "numpy"], "child": "1234"}
