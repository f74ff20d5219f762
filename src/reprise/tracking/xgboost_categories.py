"""XGBoost models with native categorical features, logged so that ``mlflow.pyfunc`` can predict with them.

MLflow's ``xgboost`` flavour cannot: its schema check refuses a pandas ``category`` column against the ``string``
type it infers for it (mlflow#12910), and XGBoost refuses the plain strings a JSON request becomes. So such a model
is stored as the ``xgboost`` flavour does (XGBoost's own format, loadable with ``mlflow.xgboost.load_model``) with
two differences in its ``MLmodel``: the categorical columns are typed ``Any`` in the signature (MLflow passes their
values through unchecked), and its ``python_function`` loader is this module, which casts those columns to the
categories the model was trained with (recorded in the same file, under ``categories``) before XGBoost sees them.
Loading reads XGBoost's format and that list: no pickle, no code from the model's files.

This module's name is written into every such model's ``MLmodel``: it must keep its name and its ``_load_pyfunc``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from mlflow.models import Model

__all__ = ["CATEGORIES_KEY", "LOADER_MODULE", "as_categorical", "model_categories", "save_model"]

#: Key of the ``python_function`` flavour (``MLmodel``) holding each categorical column's categories, in order.
CATEGORIES_KEY: Final = "categories"
#: What an ``MLmodel`` names as the ``loader_module`` of such a model.
LOADER_MODULE: Final = __name__


def model_categories(model: Any) -> dict[str, list[Any]]:
    """Each categorical feature of an XGBoost model and the categories it was trained with, in XGBoost's order.

    Empty when the model has no categorical feature, or was not trained on pandas ``category`` columns (then it
    records codes, not categories, and its input must already be codes).
    """
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    if "c" not in (booster.feature_types or ()):
        return {}
    categories = booster.get_categories(export_to_arrow=True)
    if categories.empty():
        return {}
    return {name: values.to_pylist() for name, values in categories.to_arrow() if values is not None}


def as_categorical(values: Any, categories: list[Any]) -> Any:
    """``values`` (strings, categories, None...) as a pandas ``Categorical`` of ``categories``, in their order.

    A value outside ``categories`` becomes missing, which is what the model makes of a category it never saw.
    """
    import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information

    column = pd.Series(values, dtype=object)
    return pd.Categorical(column.where(column.isin(categories)), categories=categories)


def save_model(xgb_model: Any, path: str, mlflow_model: Model | None = None, **options: Any) -> None:
    """Save ``xgb_model`` as ``mlflow.xgboost.save_model`` does, then make it answer strings and categories.

    The signature of ``options`` (required) has its categorical columns retyped ``Any``; the categories are recorded
    and this module becomes the ``python_function`` loader. Also a flavour module for ``mlflow.models.Model.log``
    (which passes ``xgb_model`` and ``mlflow_model`` by keyword).
    """
    import mlflow.xgboost
    from mlflow.models import Model, ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    categories = model_categories(xgb_model)
    mlflow_model = mlflow_model if mlflow_model is not None else Model()
    signature: ModelSignature = options.pop("signature")
    anything = AnyType()  # type: ignore[no-untyped-call]
    columns = [
        ColSpec(anything, column.name, required=column.required) if column.name in categories else column
        for column in signature.inputs.inputs
    ]
    retyped = ModelSignature(inputs=Schema(columns), outputs=signature.outputs, params=signature.params)
    mlflow.xgboost.save_model(xgb_model, path, mlflow_model=mlflow_model, signature=retyped, **options)
    conf = mlflow_model.flavors["python_function"]
    conf["loader_module"] = LOADER_MODULE
    conf[CATEGORIES_KEY] = categories
    mlflow_model.save(str(Path(path) / "MLmodel"))


def _load_pyfunc(path: str) -> _CategoricalModel:
    """``mlflow.pyfunc``'s entry point: ``path`` is the model file the ``python_function`` flavour names."""
    import mlflow.xgboost
    from mlflow.models import Model

    conf = Model.load(str(Path(path).parent / "MLmodel")).flavors["python_function"]
    return _CategoricalModel(mlflow.xgboost._load_pyfunc(path), conf[CATEGORIES_KEY])


class _CategoricalModel:
    """MLflow's XGBoost pyfunc model, given its categorical columns as pandas categories of the training order."""

    def __init__(self, wrapped: Any, categories: dict[str, list[Any]]) -> None:
        self._wrapped = wrapped
        self._categories = categories

    def get_raw_model(self) -> Any:
        """The XGBoost model itself (as from ``mlflow.xgboost.load_model``)."""
        return self._wrapped.get_raw_model()

    def predict(self, dataframe: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict for ``dataframe``, whose categorical columns may hold strings, categories or missing values."""
        cast = {
            name: as_categorical(dataframe[name].to_numpy(), values)
            for name, values in self._categories.items()
            if name in dataframe
        }
        return self._wrapped.predict(dataframe.assign(**cast), params=params)
