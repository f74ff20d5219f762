"""Explanation artifacts for a trained model: SHAP and feature-importance plots, a confusion matrix or residual plot.

Everything is drawn with matplotlib's Agg backend into one temporary folder and logged to the active MLflow run in a
single call: ``plots/*.png`` and ``model_info.json``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from reprise.tracking.models import model_kind

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Task", "log_model_explanations"]

Task = Literal["classification", "regression"]

#: SHAP on a few hundred rows tells the same story as on all of them, at a fraction of the time.
_SHAP_ROWS = 300


def log_model_explanations(model: Any, features: Any, target: Any, *, task: Task) -> list[str]:
    """Draw the model's explanation plots and log them, with ``model_info.json``, to the active MLflow run.

    Args:
        model: A fitted estimator (scikit-learn, including a ``Pipeline``, or the XGBoost or LightGBM sklearn API).
        features: Evaluation features as a DataFrame (column names label the plots).
        target: True values for ``features``.
        task: ``classification`` (confusion matrix) or ``regression`` (residual plot).

    Returns:
        The artifact paths logged, relative to the run's artifact root.
    """
    import matplotlib

    matplotlib.use("Agg")
    import mlflow

    names = [str(column) for column in features.columns]
    figures: dict[str, Figure] = {}
    figures.update(_shap_figures(model, features))
    figures.update(_importance_figures(model, names))
    predicted = model.predict(features)
    figures["confusion_matrix" if task == "classification" else "residuals"] = (
        _confusion_figure(target, predicted) if task == "classification" else _residual_figure(target, predicted)
    )
    info = {
        "model_type": type(model).__name__,
        "flavor": model_kind(model),
        "task": task,
        "feature_names": names,
        "n_features": len(names),
    }
    with tempfile.TemporaryDirectory(prefix="reprise-plots-") as tmp:
        folder = Path(tmp)
        (folder / "plots").mkdir()
        for stem, figure in figures.items():
            figure.savefig(folder / "plots" / f"{stem}.png", dpi=100, bbox_inches="tight")
            matplotlib.pyplot.close(figure)
        (folder / "model_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        mlflow.log_artifacts(str(folder))
    return sorted([f"plots/{stem}.png" for stem in figures] + ["model_info.json"])


def _shap_figures(model: Any, features: Any) -> dict[str, Figure]:
    import matplotlib.pyplot as plt
    import shap

    sample = features.iloc[:_SHAP_ROWS]
    explanation = _explainer(shap, model, sample)(sample)
    if explanation.values.ndim == 3:
        # Classifiers explain each class; the last one is the positive class of a binary problem.
        explanation = explanation[:, :, -1]
    figures = {}
    for stem, draw in (("shap_summary", shap.plots.beeswarm), ("shap_importance", shap.plots.bar)):
        plt.figure()
        draw(explanation, show=False, max_display=min(20, sample.shape[1]))
        figure = plt.gcf()
        figure.suptitle(f"SHAP {'summary' if stem == 'shap_summary' else 'importance'}: {type(model).__name__}")
        figures[stem] = figure
    return figures


def _explainer(shap: Any, model: Any, sample: Any) -> Any:
    """SHAP's explainer for ``model``: exact for trees and linear models, else over its prediction function.

    A scikit-learn ``Pipeline`` (or any estimator SHAP does not recognise) is explained through ``predict_proba`` or
    ``predict`` with ``sample`` as the background, which SHAP accepts for any callable.
    """
    if _is_tree(model):
        return shap.TreeExplainer(model)
    if hasattr(model, "coef_"):
        return shap.Explainer(model, sample)
    predict = getattr(model, "predict_proba", None) or model.predict
    return shap.Explainer(predict, sample)


def _importance_figures(model: Any, names: list[str]) -> dict[str, Figure]:
    if model_kind(model) == "xgboost":
        booster = model.get_booster()
        kinds = ("weight", "gain", "cover")
        return {
            f"feature_importance_{kind}": _bar_figure(
                booster.get_score(importance_type=kind), f"XGBoost feature importance ({kind})"
            )
            for kind in kinds
        }
    values = getattr(model, "feature_importances_", None)
    if values is None:
        coefficients = getattr(model, "coef_", None)
        if coefficients is None:
            return {}
        import numpy as np

        values = np.abs(np.atleast_2d(coefficients)).mean(axis=0)
    return {"feature_importance": _bar_figure(dict(zip(names, map(float, values), strict=True)), "Feature importance")}


def _bar_figure(scores: dict[str, float], title: str) -> Figure:
    import matplotlib.pyplot as plt

    top = sorted(scores.items(), key=lambda item: item[1])[-20:]
    figure, axis = plt.subplots(figsize=(7, max(3.0, 0.3 * len(top))))
    axis.barh([name for name, _ in top], [value for _, value in top], color="#4c72b0")
    axis.set_title(title)
    axis.set_xlabel("importance")
    return figure


def _confusion_figure(target: Any, predicted: Any) -> Figure:
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    figure, axis = plt.subplots(figsize=(5, 4))
    ConfusionMatrixDisplay.from_predictions(target, predicted, ax=axis, colorbar=False)
    axis.set_title("Confusion matrix")
    return figure


def _residual_figure(target: Any, predicted: Any) -> Figure:
    import matplotlib.pyplot as plt
    import numpy as np

    residuals = np.asarray(target, dtype=float) - np.asarray(predicted, dtype=float)
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.scatter(predicted, residuals, s=10, alpha=0.6)
    axis.axhline(0.0, color="black", linewidth=1)
    axis.set_xlabel("predicted")
    axis.set_ylabel("residual (true - predicted)")
    axis.set_title("Residuals")
    return figure


def _is_tree(model: Any) -> bool:
    return model_kind(model) in ("xgboost", "lightgbm") or hasattr(model, "estimators_") or hasattr(model, "tree_")
