"""Autologging inside ``start_run``: MLflow's for params and training metrics, Reprise's rules for the model.

MLflow's scikit-learn, XGBoost and LightGBM autologging is turned on with ``log_models=False`` (its models are
pickles, with requirements inferred at ~10 s a model) and ``log_datasets=False``. Meanwhile the last estimator fitted
at the top level (a pipeline, not its steps; a search, not its trials) is remembered, from the events MLflow emits
around every call it patches (``AutologgingEventLogger``), with the first rows it was fitted on. When the block
ends well and no model was logged in the run, that estimator is logged once with :func:`reprise.log_model`.

Only the libraries the process has imported when the block starts are autologged: scikit-learn's autologging
imports every scikit-learn estimator (~2.5 s), which a script that never imported scikit-learn should not pay.
Autologging a library the user turned on already is left as it is; what the block turned on is turned off when it
ends.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["FitWatcher", "autologging", "log_fitted_model"]

#: MLflow autologging integrations start_run turns on, each with the module it needs imported.
_LIBRARIES: Final = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm"}
#: Patched methods that fit an estimator.
_FITS: Final = frozenset({"fit", "fit_transform", "fit_predict"})
#: Rows of the training data kept as the model's input example.
_EXAMPLE_ROWS: Final = 5


class FitWatcher:
    """MLflow's autologging event logger while a block runs: remembers the estimator fitted last, at the top level.

    Every event is also passed on to the logger it stands in for.

    Attributes:
        model: The estimator whose top-level fit ended last, or None.
        example: The first rows it was fitted on, or None.
    """

    def __init__(self, previous: Any) -> None:
        # A block inside another start_run block: the outer one does not see its fits (they are the inner run's).
        self._previous: Any = previous._previous if isinstance(previous, FitWatcher) else previous
        self._depth = 0
        self.model: Any = None
        self.example: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._previous, name)

    def log_original_function_start(self, session: Any, patch_obj: Any, name: str, args: Any, kwargs: Any) -> None:
        """A patched call runs the library's own function: a fit inside another one is not the model."""
        if name in _FITS:
            self._depth += 1
        self._previous.log_original_function_start(session, patch_obj, name, args, kwargs)

    def log_original_function_success(self, session: Any, patch_obj: Any, name: str, args: Any, kwargs: Any) -> None:
        """The library's own function returned: a top-level fit becomes the model to log."""
        if name in _FITS:
            self._depth -= 1
            data = args[1] if len(args) > 1 else kwargs.get("X")
            if self._depth == 0 and args and data is not None:
                self.model, self.example = args[0], _head(data)
        self._previous.log_original_function_success(session, patch_obj, name, args, kwargs)

    def log_original_function_error(
        self, session: Any, patch_obj: Any, name: str, args: Any, kwargs: Any, exception: Exception
    ) -> None:
        """The library's own function raised: that fit does not count."""
        if name in _FITS:
            self._depth -= 1
        self._previous.log_original_function_error(session, patch_obj, name, args, kwargs, exception)


@contextlib.contextmanager
def autologging(enabled: bool = True) -> Iterator[FitWatcher | None]:
    """Autolog params and training metrics of the imported libraries, and watch what is fitted, inside the block.

    Args:
        enabled: False: do nothing (and yield None).

    Yields:
        The watcher holding the estimator fitted last, once the block has run.
    """
    if not enabled:
        yield None
        return
    from mlflow.utils.autologging_utils import autologging_is_disabled
    from mlflow.utils.autologging_utils.events import AutologgingEventLogger

    started = []
    for integration, module in _LIBRARIES.items():
        if module in sys.modules and autologging_is_disabled(integration):  # type: ignore[no-untyped-call]
            flavour = importlib.import_module(f"mlflow.{integration}")
            flavour.autolog(log_models=False, log_datasets=False, silent=True)
            started.append(flavour)
    previous = AutologgingEventLogger.get_logger()  # type: ignore[no-untyped-call]
    watcher = FitWatcher(previous)
    AutologgingEventLogger.set_logger(watcher)  # type: ignore[no-untyped-call]
    try:
        yield watcher
    finally:
        AutologgingEventLogger.set_logger(previous)  # type: ignore[no-untyped-call]
        for flavour in started:
            flavour.autolog(disable=True, silent=True)


def log_fitted_model(watcher: FitWatcher) -> str | None:
    """Log the estimator ``watcher`` saw fitted last in the active run, unless a model was logged in it already.

    A model that cannot be logged (a custom estimator skops cannot save...) leaves the run as it is, with one line
    on stderr saying so.

    Returns:
        The logged model's URI, or None when nothing was logged.
    """
    import mlflow

    from reprise.tracking.models import log_model

    active = mlflow.active_run()
    outputs = getattr(active, "outputs", None)
    if watcher.model is None or active is None or (outputs is not None and outputs.model_outputs):
        return None
    try:
        return log_model(watcher.model, watcher.example).model_uri
    except Exception as exc:  # best effort: the run itself went well, and says so
        name = type(watcher.model).__name__
        print(
            f"reprise: the {name} fitted in the run was not logged ({exc}); log it with "
            "reprise.log_model(model, X.head()), or pass autolog=False",
            file=sys.stderr,
        )
        return None


def _head(data: Any) -> Any:
    """The first rows of ``data`` (a DataFrame, an array, a list), copied: the caller may change ``data`` later."""
    import copy

    rows = data.iloc[:_EXAMPLE_ROWS] if hasattr(data, "iloc") else data[:_EXAMPLE_ROWS]
    return copy.deepcopy(rows)
