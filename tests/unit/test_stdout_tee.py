"""The stdout tee of ``start_run`` keeps what is printed, also through a stream wrapper whose write returns None."""

from __future__ import annotations

import io
import sys

import pytest

from reprise.tracking._command import StdoutTee


class _Wrapper:
    """Like colorama's stream wrapper once DVC has installed it: ``write`` returns None."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def write(self, text: str) -> None:
        self.buffer.write(text)

    def flush(self) -> None:
        self.buffer.flush()


def test_printing_through_a_wrapper_that_returns_none_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    wrapper = _Wrapper()
    monkeypatch.setattr(sys, "stdout", wrapper)
    with StdoutTee() as tee:
        print("hello from the run")
    assert sys.stdout is wrapper
    assert wrapper.buffer.getvalue() == "hello from the run\n"
    assert tee.captured() == b"hello from the run\n"
