"""The robust z-score detector: scikit-learn's outlier-detector contract, robustness, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from reprise.automl.zscore import RobustZScore


def _readings(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    normal = rng.normal(loc=[20.0, 0.5, 3.0], scale=[2.0, 0.1, 1.0], size=(200, 3))
    outliers = normal[:10] + np.array([30.0, 0.0, 0.0])  # far off on the first feature only
    return np.vstack([normal, outliers])


@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_it_flags_rows_far_from_the_median_and_is_deterministic_and_order_free(aggregate: str) -> None:
    readings = _readings()
    detector = RobustZScore(aggregate=aggregate).fit(readings)
    again = RobustZScore(aggregate=aggregate).fit(readings[::-1])
    assert np.array_equal(detector.score_samples(readings), again.score_samples(readings))
    assert np.array_equal(detector.predict(readings[-10:]), np.full(10, -1))
    assert np.mean(detector.predict(readings[:200]) == -1) <= 0.05
    assert np.array_equal(detector.decision_function(readings), detector.score_samples(readings) - detector.offset_)


def test_the_median_and_mad_ignore_the_outliers_and_a_constant_column_is_no_evidence() -> None:
    readings = _readings()
    with_flag = np.column_stack([readings, np.zeros(len(readings))])
    with_flag[0, 3] = 1.0  # a one-hot column: MAD 0, scaled by its mean absolute deviation instead
    detector = RobustZScore().fit(with_flag)
    assert abs(detector.median_[0] - 20.0) < 0.5 and abs(detector.scale_[0] - 2.0) < 0.4
    assert np.all(np.isfinite(detector.score_samples(with_flag)))
    assert np.isnan(RobustZScore().fit(readings).score_samples(np.array([[np.nan, 0.5, 3.0]]))).sum() == 0


def test_a_bad_setting_is_refused_at_fit() -> None:
    with pytest.raises(ValueError, match="aggregate"):
        RobustZScore(aggregate="median").fit(_readings())
