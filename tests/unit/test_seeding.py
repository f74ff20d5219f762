"""Unit tests of reprise.seeding: child seeds, the SeedConfig mapping and seeding of the global generators."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import secrets
import sys
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reprise.seeding
from reprise.config import DEFAULT_SEED as CONFIG_DEFAULT_SEED
from reprise.errors import ConfigError
from reprise.seeding import DEFAULT_SEED, SeedConfig, derive_seed, ensure_reproducibility

MAX_SEED = 2**32 - 1
KEYS = ("seed", "split", "model", "sklearn", "xgboost", "lightgbm", "seeded", "pythonhashseed")
#: Variables ensure_reproducibility may write; each test that calls it gets them restored.
SEEDING_ENV_VARS = ("PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "TF_DETERMINISTIC_OPS")

seeds = st.integers(min_value=0, max_value=MAX_SEED)
no_db = settings(database=None, deadline=None)

BAD_SEEDS = [
    pytest.param(-1, id="negative"),
    pytest.param(MAX_SEED + 1, id="above-2**32-1"),
    pytest.param(True, id="bool-true"),
    pytest.param(False, id="bool-false"),
    pytest.param(1.0, id="float"),
    pytest.param("42", id="str"),
    pytest.param(np.float64(3), id="numpy-float"),
]


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Restore the global generators, the seeding env vars and sys.modules' frameworks after the test."""
    for name in SEEDING_ENV_VARS:
        # setenv first so that teardown deletes the variable again even if it was absent before.
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    for module in ("torch", "tensorflow"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    yield monkeypatch
    random.setstate(python_state)
    np.random.set_state(numpy_state)


# --- public surface -------------------------------------------------------------------------------------------------


def test_all_is_sorted_and_complete() -> None:
    assert reprise.seeding.__all__ == sorted(reprise.seeding.__all__)
    assert set(reprise.seeding.__all__) == {"DEFAULT_SEED", "SeedConfig", "derive_seed", "ensure_reproducibility"}


def test_default_seed_is_the_settings_default() -> None:
    assert DEFAULT_SEED == CONFIG_DEFAULT_SEED == 42


# --- derive_seed ----------------------------------------------------------------------------------------------------


def test_derive_seed_is_the_documented_hash() -> None:
    expected = int.from_bytes(hashlib.sha256(b"42:fold-0").digest()[:4], "big") & (2**31 - 1)
    assert derive_seed(42, "fold-0") == expected == 81420265


@no_db
@given(root=seeds, name=st.text())
def test_derive_seed_is_a_stable_31_bit_int(root: int, name: str) -> None:
    child = derive_seed(root, name)
    assert type(child) is int
    assert 0 <= child <= 2**31 - 1
    assert derive_seed(root, name) == child


@no_db
@given(root=seeds, names=st.lists(st.text(min_size=1), min_size=2, max_size=20, unique=True))
def test_derive_seed_gives_different_names_different_seeds(root: int, names: list[str]) -> None:
    # 20 names in 2**31 values: a collision has odds below 1e-7, so a failure means a real bug.
    assert len({derive_seed(root, name) for name in names}) == len(names)


@no_db
@given(roots=st.lists(seeds, min_size=2, max_size=20, unique=True))
def test_derive_seed_gives_different_roots_different_seeds(roots: list[int]) -> None:
    assert len({derive_seed(root, "model") for root in roots}) == len(roots)


@pytest.mark.parametrize("root", BAD_SEEDS)
def test_derive_seed_rejects_bad_roots(root: Any) -> None:
    with pytest.raises(ConfigError, match="root seed") as info:
        derive_seed(root, "fold-0")
    assert repr(root) in info.value.message
    assert info.value.hint


def test_derive_seed_rejects_a_name_that_is_not_a_string() -> None:
    with pytest.raises(ConfigError, match="must be a string"):
        derive_seed(42, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "root", [0, MAX_SEED, np.int64(7), np.uint32(MAX_SEED)], ids=["zero", "max", "int64", "uint32"]
)
def test_derive_seed_accepts_the_whole_range_and_numpy_integers(root: Any) -> None:
    assert derive_seed(root, "x") == derive_seed(int(root), "x")


# --- SeedConfig -----------------------------------------------------------------------------------------------------


def test_seed_config_keyword_sets() -> None:
    cfg = SeedConfig(7)
    assert cfg.split == cfg.model == cfg.sklearn == {"random_state": 7}
    assert cfg.xgboost == {"random_state": 7}
    assert cfg.lightgbm == {"seed": 7, "deterministic": True, "force_row_wise": True, "verbose": -1}
    assert cfg.seeded == ()
    assert cfg.pythonhashseed == "7"


@pytest.mark.parametrize("key", KEYS, ids=KEYS)
def test_seed_config_items_equal_attributes(key: str) -> None:
    cfg = SeedConfig(7, seeded=("random", "numpy"), pythonhashseed="7")
    assert key in cfg
    assert cfg[key] == getattr(cfg, key)


def test_seed_config_is_a_read_only_mapping() -> None:
    cfg = SeedConfig(7, seeded=("random",), pythonhashseed="7")
    assert cfg.keys() == KEYS
    assert dict(cfg) == {key: getattr(cfg, key) for key in KEYS}
    assert {**cfg}["xgboost"] == cfg.xgboost
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 8  # type: ignore[misc]


def test_seed_config_unknown_key_lists_the_known_ones() -> None:
    cfg = SeedConfig(7)
    assert "catboost" not in cfg
    with pytest.raises(KeyError, match="known keys: seed, split, model, sklearn, xgboost, lightgbm"):
        cfg["catboost"]


def test_seed_config_hands_out_copies() -> None:
    cfg = SeedConfig(7)
    for key in ("split", "model", "sklearn", "xgboost", "lightgbm"):
        cfg[key]["random_state"] = 0
        getattr(cfg, key).clear()
    assert cfg.sklearn == {"random_state": 7}
    assert cfg.xgboost == {"random_state": 7}
    assert cfg.lightgbm["seed"] == 7


def test_seed_config_normalises_numpy_integers_and_round_trips_to_json_data() -> None:
    cfg = SeedConfig(np.int64(7), seeded=("random", "numpy"), pythonhashseed="7")  # type: ignore[arg-type]
    assert type(cfg.seed) is int
    assert cfg.to_dict() == {"seed": 7, "seeded": ["random", "numpy"], "pythonhashseed": "7"}
    assert SeedConfig(7) == SeedConfig(7)


@pytest.mark.parametrize("seed", BAD_SEEDS)
def test_seed_config_rejects_bad_seeds(seed: Any) -> None:
    with pytest.raises(ConfigError):
        SeedConfig(seed)


@pytest.mark.parametrize(
    ("given", "stored"),
    [("", "7"), ("random", "random"), ("0", "0"), (str(MAX_SEED), str(MAX_SEED))],
    ids=["default", "random", "zero", "max"],
)
def test_seed_config_pythonhashseed_defaults_to_the_seed(given: str, stored: str) -> None:
    assert SeedConfig(7, pythonhashseed=given).pythonhashseed == stored


@pytest.mark.parametrize(
    "value",
    ["-1", str(MAX_SEED + 1), "abc", " 7", "\u0663"],
    ids=["negative", "too-big", "word", "space", "arabic-digit"],
)
def test_seed_config_rejects_a_pythonhashseed_python_would_refuse(value: str) -> None:
    with pytest.raises(ConfigError, match="pythonhashseed"):
        SeedConfig(7, pythonhashseed=value)


# --- the keyword sets are accepted by the estimators, silently ------------------------------------------------------


def _fit_quietly(estimator: Any) -> list[str]:
    """Fit on a tiny data set and return every warning raised, including XGBoost's C++ log routed to warnings."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 4))
    labels = (features[:, 0] > 0).astype(int)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(features, labels)
        estimator.predict_proba(features)
    return [str(warning.message) for warning in caught]


def test_sklearn_keywords_fit_without_warnings() -> None:
    ensemble = pytest.importorskip("sklearn.ensemble")
    model = ensemble.RandomForestClassifier(n_estimators=5, **SeedConfig(7).sklearn)
    assert _fit_quietly(model) == []
    assert model.get_params()["random_state"] == 7


def test_xgboost_keywords_fit_without_warnings_and_leave_tree_method_to_the_caller() -> None:
    xgboost = pytest.importorskip("xgboost")
    model = xgboost.XGBClassifier(n_estimators=5, **SeedConfig(7).xgboost)
    # An unknown key (e.g. deterministic_histogram) only shows up as a "Parameters: {...} are not used" warning.
    assert _fit_quietly(model) == []
    assert model.get_params()["random_state"] == 7
    chosen = xgboost.XGBClassifier(n_estimators=5, tree_method="approx", **SeedConfig(7).xgboost)
    assert _fit_quietly(chosen) == []
    assert chosen.get_params()["tree_method"] == "approx"


def test_lightgbm_keywords_fit_without_warnings() -> None:
    lightgbm = pytest.importorskip("lightgbm")
    model = lightgbm.LGBMClassifier(n_estimators=5, **SeedConfig(7).lightgbm)
    assert _fit_quietly(model) == []
    assert model.get_params()["seed"] == 7


# --- ensure_reproducibility -----------------------------------------------------------------------------------------


def test_ensure_reproducibility_defaults_to_the_default_seed(isolated: pytest.MonkeyPatch) -> None:
    cfg = ensure_reproducibility()
    assert cfg.seed == DEFAULT_SEED
    assert cfg.seeded == ("random", "numpy")
    assert cfg.pythonhashseed == str(DEFAULT_SEED)


def test_python_and_numpy_draws_repeat_after_reseeding(isolated: pytest.MonkeyPatch, global_seed: int) -> None:
    _assert_draws_repeat(global_seed)


@pytest.mark.parametrize("seed", [0, MAX_SEED], ids=["zero", "max"])
def test_draws_repeat_at_the_ends_of_the_range(isolated: pytest.MonkeyPatch, seed: int) -> None:
    _assert_draws_repeat(seed)


def _assert_draws_repeat(seed: int) -> None:
    ensure_reproducibility(seed)
    first = ([random.random() for _ in range(5)], np.random.rand(5))
    ensure_reproducibility(seed)
    second = ([random.random() for _ in range(5)], np.random.rand(5))
    assert first[0] == second[0]
    assert first[1].tobytes() == second[1].tobytes()


def test_different_seeds_give_different_draws(isolated: pytest.MonkeyPatch) -> None:
    ensure_reproducibility(1)
    first = (random.random(), np.random.rand())
    ensure_reproducibility(2)
    assert (random.random(), np.random.rand()) != first


def test_seed_none_draws_a_seed_and_returns_it(isolated: pytest.MonkeyPatch) -> None:
    cfg = ensure_reproducibility(None)
    assert 0 <= cfg.seed <= 2**31 - 1
    draws = (random.random(), float(np.random.rand()))
    ensure_reproducibility(cfg.seed)
    assert (random.random(), float(np.random.rand())) == draws
    assert os.environ["PYTHONHASHSEED"] == str(cfg.seed)


def test_seed_none_draws_from_secrets_below_2_31(isolated: pytest.MonkeyPatch) -> None:
    bounds: list[int] = []

    def fake_randbelow(bound: int) -> int:
        bounds.append(bound)
        return 1234

    isolated.setattr(secrets, "randbelow", fake_randbelow)
    assert ensure_reproducibility(None).seed == 1234
    assert bounds == [2**31]


def test_pythonhashseed_is_set_for_child_processes(isolated: pytest.MonkeyPatch) -> None:
    cfg = ensure_reproducibility(1234)
    assert os.environ["PYTHONHASHSEED"] == "1234" == cfg.pythonhashseed


@pytest.mark.parametrize("seed", BAD_SEEDS)
def test_ensure_reproducibility_rejects_bad_seeds(isolated: pytest.MonkeyPatch, seed: Any) -> None:
    state = random.getstate()
    with pytest.raises(ConfigError, match="seed") as info:
        ensure_reproducibility(seed)
    assert info.value.hint
    assert info.value.exit_code == 2
    # Nothing was seeded or exported before the seed was checked.
    assert random.getstate() == state
    assert "PYTHONHASHSEED" not in os.environ


def test_verbose_prints_one_line_per_library_to_stderr(
    isolated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ensure_reproducibility(5, verbose=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "seeded random with 5" in err
    assert "seeded numpy with 5" in err
    assert "PYTHONHASHSEED=5" in err


def test_quiet_by_default(isolated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ensure_reproducibility(5)
    assert capsys.readouterr() == ("", "")


# --- frameworks: seeded only when the script already imported them --------------------------------------------------


def _fake_torch(calls: list[tuple[str, Any]], *, cuda: bool) -> SimpleNamespace:
    def record(name: str) -> Any:
        return lambda *args, **kwargs: calls.append((name, (args, kwargs)))

    return SimpleNamespace(
        manual_seed=record("manual_seed"),
        use_deterministic_algorithms=record("use_deterministic_algorithms"),
        cuda=SimpleNamespace(is_available=lambda: cuda, manual_seed_all=record("cuda.manual_seed_all")),
        backends=SimpleNamespace(cudnn=SimpleNamespace(deterministic=False, benchmark=True)),
    )


@pytest.mark.parametrize("cuda", [False, True], ids=["cpu", "cuda"])
def test_torch_is_seeded_when_imported(isolated: pytest.MonkeyPatch, cuda: bool) -> None:
    calls: list[tuple[str, Any]] = []
    torch = _fake_torch(calls, cuda=cuda)
    isolated.setitem(sys.modules, "torch", torch)
    cfg = ensure_reproducibility(9)
    assert cfg.seeded == ("random", "numpy", "torch")
    assert ("manual_seed", ((9,), {})) in calls
    assert (("cuda.manual_seed_all", ((9,), {})) in calls) is cuda
    assert ("use_deterministic_algorithms", ((True,), {"warn_only": True})) in calls
    assert torch.backends.cudnn.deterministic is True
    assert torch.backends.cudnn.benchmark is False
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_torch_keeps_a_cublas_setting_the_user_chose(isolated: pytest.MonkeyPatch) -> None:
    isolated.setitem(sys.modules, "torch", _fake_torch([], cuda=False))
    isolated.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    ensure_reproducibility(9)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_tensorflow_is_seeded_when_imported(isolated: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    tf = SimpleNamespace(
        random=SimpleNamespace(set_seed=calls.append),
        config=SimpleNamespace(experimental=SimpleNamespace(enable_op_determinism=lambda: calls.append("ops"))),
    )
    isolated.setitem(sys.modules, "tensorflow", tf)
    cfg = ensure_reproducibility(9)
    assert cfg.seeded == ("random", "numpy", "tensorflow")
    assert calls == [9, "ops"]
    assert "TF_DETERMINISTIC_OPS" not in os.environ


def test_old_tensorflow_gets_the_determinism_variable(isolated: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    tf = SimpleNamespace(random=SimpleNamespace(set_seed=calls.append), config=SimpleNamespace(experimental=None))
    isolated.setitem(sys.modules, "tensorflow", tf)
    ensure_reproducibility(9)
    assert calls == [9]
    assert os.environ["TF_DETERMINISTIC_OPS"] == "1"


def test_frameworks_that_are_not_imported_are_left_alone(isolated: pytest.MonkeyPatch) -> None:
    cfg = ensure_reproducibility(9, verbose=False)
    assert "torch" not in sys.modules
    assert "tensorflow" not in sys.modules
    assert cfg.seeded == ("random", "numpy")
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
