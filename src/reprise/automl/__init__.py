"""Constrained AutoML: use-case and deployment presets, limits measured on the artifact that ships.

``reprise.automl(...)`` runs a search (:func:`reprise.automl.search.automl`). The package itself is callable too, so
``reprise.automl(...)`` works whether Python resolved ``reprise.automl`` to the function (the lazy export) or to
this package (once any ``reprise.automl.*`` module has been imported, Python binds the package to that name).
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__: list[str] = []


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from reprise.automl.search import automl

        return automl(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
