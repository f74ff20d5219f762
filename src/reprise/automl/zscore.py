"""A robust z-score anomaly detector: how many median absolute deviations a row lies from the median.

The median and the MAD barely move when a few rows are extreme, so the detector learns what normal looks like from
data that holds the very anomalies it is to find, and needs no labels. A feature whose MAD is zero (a one-hot column,
a mostly constant sensor) is scaled by its mean absolute deviation instead, and by 1 when that is zero too, so one
rare value does not make every row that has it infinitely far. A row's score aggregates its features' distances: the
largest (``max``: one sensor far off is enough) or the mean.

It follows scikit-learn's outlier-detector conventions (``score_samples`` higher for normal rows,
``decision_function`` negative for outliers, ``predict`` 1 / -1), so it is cross-validated, measured, logged with
skops and served like the other families. Its fitted state is arrays and numbers only: ``reprise serve`` trusts this
one class by name (:mod:`reprise.tracking.serving`), loading it runs no code from the model's files. Its ONNX form
(the ``edge`` extra) is converted by :mod:`reprise.automl.onnx_form`.

Example:
    >>> detector = RobustZScore().fit([[0.0], [1.0], [2.0], [1.0], [50.0]])
    >>> detector.predict([[1.0], [60.0]]).tolist()
    [1, -1]
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["RobustZScore"]

#: MAD of a normal distribution is its standard deviation times this: scaled MADs read as standard deviations.
_MAD_TO_SD: Final = 1.482602218505602
#: Mean absolute deviation of a normal distribution is its standard deviation divided by this.
_MEAN_AD_TO_SD: Final = 1.2533141373155001


class RobustZScore(OutlierMixin, BaseEstimator):  # type: ignore[misc]  # scikit-learn ships no type information
    """Robust z-score outlier detector (median and MAD per feature), deterministic and label-free.

    Args:
        aggregate: How a row's per-feature distances become one score: ``max`` or ``mean``.
        contamination: Share of training rows ``predict`` flags (the threshold of ``decision_function``).

    Attributes:
        median_: Per-feature median of the training rows.
        scale_: Per-feature robust scale (scaled MAD; mean absolute deviation or 1 where the MAD is 0).
        offset_: ``score_samples`` threshold: rows below it are outliers.
    """

    def __init__(self, aggregate: str = "max", contamination: float = 0.05) -> None:
        self.aggregate = aggregate
        self.contamination = contamination

    def fit(self, X: Any, y: Any = None) -> RobustZScore:  # scikit-learn's name for the features
        """Learn each feature's median and robust scale, and the threshold that flags ``contamination`` of the rows.

        Raises:
            ValueError: ``aggregate`` is not ``max`` or ``mean``, or ``contamination`` is not in (0, 0.5].
        """
        del y  # unsupervised
        if self.aggregate not in ("max", "mean"):
            raise ValueError(f"aggregate must be 'max' or 'mean', not {self.aggregate!r}")
        if not 0 < self.contamination <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], not {self.contamination!r}")
        values = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64)
        self.median_ = np.nanmedian(values, axis=0)
        deviation = np.abs(values - self.median_)
        mad = np.nanmedian(deviation, axis=0) * _MAD_TO_SD
        mean_ad = np.nanmean(deviation, axis=0) * _MEAN_AD_TO_SD
        scale = np.where(mad > 0, mad, mean_ad)
        self.scale_ = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.offset_ = float(np.quantile(self.score_samples(values), self.contamination))
        return self

    def score_samples(self, X: Any) -> Any:
        """Minus each row's aggregated distance from the median, in robust standard deviations (higher: normal)."""
        check_is_fitted(self)
        values = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64, reset=False)
        distance = np.abs(values - self.median_) / self.scale_
        distance = np.where(np.isnan(distance), 0.0, distance)  # a missing value is no evidence either way
        combined = distance.max(axis=1) if self.aggregate == "max" else distance.mean(axis=1)
        return -combined

    def decision_function(self, X: Any) -> Any:
        """``score_samples`` minus the threshold: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> Any:
        """1 for normal rows, -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)
