from __future__ import annotations

import importlib
import inspect

import pytest

import reprise
from reprise import errors


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert reprise.__all__ == sorted(reprise.__all__)
    for name in reprise.__all__:
        assert getattr(reprise, name) is not None, name


def test_no_private_names_leak_into_the_public_api() -> None:
    assert not [name for name in reprise.__all__ if name.startswith("_") and name != "__version__"]


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = reprise.nope  # type: ignore[attr-defined]


def test_version_matches_the_installed_distribution() -> None:
    from importlib.metadata import version

    assert reprise.__version__ == version("reprise")


def test_every_error_derives_from_the_root_and_is_drawn_in_the_docstring() -> None:
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if obj.__module__ == errors.__name__]
    assert set(errors.__all__) == {cls.__name__ for cls in classes}
    for cls in classes:
        assert issubclass(cls, errors.RepriseError) or issubclass(cls, Warning)
        assert cls.__name__ in (errors.__doc__ or ""), f"{cls.__name__} missing from the tree in errors.py"
    codes = [cls.code for cls in classes if issubclass(cls, errors.RepriseError)]
    assert len(codes) == len(set(codes)), "error codes must be unique"


def test_errors_that_mirror_builtins_are_caught_by_them() -> None:
    with pytest.raises(LookupError):
        raise errors.NotFoundError("no model x")
    with pytest.raises(ImportError):
        raise errors.MissingExtraError("fastapi", "serve")


def test_an_error_needs_a_message() -> None:
    with pytest.raises(ValueError, match="needs a message"):
        errors.RepriseError("")


@pytest.mark.parametrize("module", sorted({m for m in reprise._EXPORTS.values()}))
def test_each_public_module_declares_all(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__all__ == sorted(mod.__all__), module


def test_all_lists_exactly_the_lazy_exports() -> None:
    assert set(reprise.__all__) == {*reprise._EXPORTS, "__version__"}
