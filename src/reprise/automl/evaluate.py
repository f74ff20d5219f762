"""One trial's evaluation: the data split once per search, per-fold scores, and the model that would ship.

The split is a pure function of the data and the search seed (the test rows are held out before anything else and
scored once, by the winner); so is each trial's evaluation, of its parameters and its seed. That is what lets a
trial run on any worker, in any order, and be replayed later with bitwise-identical fold metrics.

Objectives (all "higher is better"):

- ``average_precision``: of the positive class's probability (classification), or of the anomaly score when the
  data has labels (anomaly detection).
- ``recall_at_precision``: the highest recall of any threshold whose precision reaches ``min_precision`` (0 if
  none does).
- anomaly detection without labels: **stability**, the Spearman correlation between the scores a fold's model gives
  a fixed, seeded set of probe rows and the consensus of all folds' models (a detector whose ranking changes with
  the training sample cannot be trusted to rank).

Anomaly detectors flag a row when its score is above the ``1 - cap/2`` quantile of the training fold's normal rows;
the false-positive rate of that threshold on the held-out normal rows is the hard cap's measured value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from reprise.automl.families import build_pipeline
from reprise.errors import DataError
from reprise.seeding import derive_seed

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reprise.automl.presets import Constraints

__all__ = [
    "SearchData",
    "TrialEvaluation",
    "evaluate_trial",
    "fit_model",
    "positive_class",
    "score_holdout",
    "split_data",
]

_PROBE_ROWS: Final = 200


@dataclass(frozen=True)
class SearchData:
    """The data of a search, split once.

    Attributes:
        features: Every row's features (excluded columns removed), numbers as float64, text as strings.
        target: The labels, or None for anomaly detection without labels.
        positive: The positive class (failure, defect, anomaly), or None without labels.
        numeric: Numeric feature columns.
        categorical: Text feature columns.
        train: Row positions searched on (cross-validated).
        test: Row positions held out for the winner's one test score.
        folds: ``(fit rows, held-out rows)`` per fold, as positions into ``features``.
    """

    features: Any
    target: Any
    positive: Any
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    train: Any
    test: Any
    folds: tuple[tuple[Any, Any], ...] = field(repr=False)


@dataclass(frozen=True)
class TrialEvaluation:
    """What cross-validation says about one configuration, and the model fitted on all searched rows.

    Attributes:
        score: Mean of the fold scores.
        fold_scores: One score per fold.
        fold_fpr: Per fold, the false-positive rate of the anomaly threshold (anomaly detection only).
        model: The pipeline fitted on every searched (non-test) row: what would be registered.
    """

    score: float
    fold_scores: tuple[float, ...]
    fold_fpr: tuple[float, ...]
    model: Any = field(repr=False)

    def metrics(self) -> dict[str, float]:
        """Per-fold and mean metrics, named as they are logged."""
        found = {"cv_score": self.score}
        found.update({f"fold_{index}_score": value for index, value in enumerate(self.fold_scores)})
        if self.fold_fpr:
            found["cv_false_positive_rate"] = sum(self.fold_fpr) / len(self.fold_fpr)
            found.update({f"fold_{index}_false_positive_rate": value for index, value in enumerate(self.fold_fpr)})
        return found


def positive_class(labels: Any) -> Any:
    """The positive class: 1 / True when the labels are 0/1 or booleans, else the rarer class (ties: the last)."""
    import numpy as np

    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) == 2 and set(classes.tolist()) <= {0, 1}:
        return classes[1]
    return classes[len(counts) - 1 - int(np.argmin(counts[::-1]))]


def split_data(features: Any, target: Any | None, constraints: Constraints, seed: int) -> SearchData:
    """Hold out the test rows and cut the rest into folds, stratified on the labels when there are any.

    Raises:
        DataError: Labels for classification are not exactly two classes, or there are too few rows.
    """
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    rows = np.arange(len(features))
    positive = None
    if target is not None:
        classes = np.unique(target)
        if len(classes) != 2:
            raise DataError(
                f"the target has {len(classes)} classes; constrained AutoML ranks a positive class against the rest",
                hint="use a binary target (failure / no failure, defect / good part, anomaly / normal)",
            )
        positive = positive_class(target)
    if len(rows) < 10 * constraints.cv_folds:
        raise DataError(f"only {len(rows)} rows: too few to search", hint=f"at least {10 * constraints.cv_folds}")
    train, test = train_test_split(
        rows,
        test_size=constraints.test_fraction,
        random_state=derive_seed(seed, "automl-test-split"),
        stratify=None if target is None else target,
    )
    train, test = np.sort(train), np.sort(test)
    cv_seed = derive_seed(seed, "automl-folds")
    if target is None:
        splitter: Any = KFold(constraints.cv_folds, shuffle=True, random_state=cv_seed)
        parts = splitter.split(train)
    else:
        splitter = StratifiedKFold(constraints.cv_folds, shuffle=True, random_state=cv_seed)
        parts = splitter.split(train, np.asarray(target)[train])
    folds = tuple((train[fit], train[held]) for fit, held in parts)
    numeric = tuple(str(c) for c in features.columns if features[c].dtype.kind in "fiub")
    categorical = tuple(str(c) for c in features.columns if str(c) not in numeric)
    return SearchData(features, target, positive, numeric, categorical, train, test, folds)


def fit_model(params: Mapping[str, Any], data: SearchData, rows: Any, seed: int) -> Any:
    """Fit the pipeline of ``params`` on ``rows`` with ``seed`` (anomaly detectors see no labels)."""
    model = build_pipeline(params, seed, data.numeric, data.categorical)
    frame = data.features.iloc[rows]
    if data.target is None or _is_anomaly(params):
        return model.fit(frame)
    return model.fit(frame, data.target[rows])


def evaluate_trial(params: Mapping[str, Any], data: SearchData, constraints: Constraints, seed: int) -> TrialEvaluation:
    """Cross-validate ``params`` with ``seed``, then fit it on every searched row.

    A pure function of its arguments: the same parameters, data and seed give the same fold scores, in any process
    and beside any other trial (every estimator, and BLAS/OpenMP under it, runs on one thread: a Dask worker process
    and this one sum floating-point numbers in the same order).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _evaluate(params, data, constraints, seed)


def _evaluate(params: Mapping[str, Any], data: SearchData, constraints: Constraints, seed: int) -> TrialEvaluation:
    import numpy as np

    scores, fprs, probes = [], [], []
    probe_rows = np.random.default_rng(derive_seed(seed, "probe")).choice(
        data.train, size=min(_PROBE_ROWS, len(data.train)), replace=False
    )
    for fit_rows, held_rows in data.folds:
        model = fit_model(params, data, fit_rows, seed)
        held = data.features.iloc[held_rows]
        if constraints.task == "classification":
            scores.append(_classification_score(model, held, data.target[held_rows], data.positive, constraints))
            continue
        cap = constraints.max_false_positive_rate if constraints.max_false_positive_rate is not None else 0.05
        train_scores = _anomaly_scores(model, data.features.iloc[fit_rows])
        held_scores = _anomaly_scores(model, held)
        if data.target is None:
            threshold = float(np.quantile(train_scores, 1 - cap / 2))
            fprs.append(float(np.mean(held_scores > threshold)))
            probes.append(_anomaly_scores(model, data.features.iloc[probe_rows]))
            continue
        is_anomaly = data.target[held_rows] == data.positive
        normal_train = data.target[fit_rows] != data.positive
        threshold = float(np.quantile(train_scores[normal_train], 1 - cap / 2))
        fprs.append(float(np.mean(held_scores[~is_anomaly] > threshold)))
        scores.append(_average_precision(is_anomaly, held_scores))
    if probes:
        scores = _stability(probes)
    final = fit_model(params, data, data.train, seed)
    return TrialEvaluation(
        score=float(np.mean(scores)),
        fold_scores=tuple(float(value) for value in scores),
        fold_fpr=tuple(fprs),
        model=final,
    )


def score_holdout(model: Any, data: SearchData, constraints: Constraints) -> float | None:
    """The winner's one score on the held-out test rows; None without labels (stability has no test form)."""
    held = data.features.iloc[data.test]
    if data.target is None:
        return None
    truth = data.target[data.test]
    if constraints.task == "classification":
        return _classification_score(model, held, truth, data.positive, constraints)
    return _average_precision(truth == data.positive, _anomaly_scores(model, held))


def _classification_score(model: Any, held: Any, truth: Any, positive: Any, constraints: Constraints) -> float:
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    column = list(model.classes_).index(positive)
    proba = model.predict_proba(held)[:, column]
    is_positive = truth == positive
    if constraints.objective == "average_precision":
        return _average_precision(is_positive, proba)
    precision, recall, _ = precision_recall_curve(is_positive, proba)
    floor = constraints.min_precision if constraints.min_precision is not None else 0.0
    reaching = recall[precision >= floor]
    return float(np.max(reaching)) if reaching.size else 0.0


def _average_precision(truth: Any, scores: Any) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(truth, scores))


def _anomaly_scores(model: Any, frame: Any) -> Any:
    """Higher means more anomalous (scikit-learn's ``score_samples`` is higher for normal rows)."""
    return -model.score_samples(frame)


def _stability(probes: list[Any]) -> list[float]:
    """Each fold model's Spearman correlation with the mean rank all fold models give the probe rows."""
    import numpy as np
    from scipy.stats import rankdata, spearmanr  # type: ignore[import-untyped]  # no stubs installed

    ranks = np.vstack([rankdata(scores) for scores in probes])
    consensus = ranks.mean(axis=0)
    return [float(spearmanr(row, consensus).statistic) for row in ranks]


def _is_anomaly(params: Mapping[str, Any]) -> bool:
    from reprise.automl.families import FAMILIES

    return FAMILIES[str(params["family"])].task == "anomaly"
