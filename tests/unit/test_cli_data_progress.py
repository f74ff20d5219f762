"""The progress bar of ``reprise data``: none for quick work, a rich bar on stderr once work lasts a second."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import rich.progress
from rich.console import Console

from reprise.cli import data as data_cli


class _FakeProgress:
    made: ClassVar[list[_FakeProgress]] = []

    def __init__(self, *columns: Any, console: Any, transient: bool) -> None:
        self.console, self.transient, self.updates, self.stopped = console, transient, [], False
        _FakeProgress.made.append(self)

    def start(self) -> None:
        pass

    def add_task(self, description: str, total: int) -> int:
        return 1

    def update(self, task: int, completed: int, total: int) -> None:
        self.updates.append((completed, total))

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture(autouse=True)
def _fake(monkeypatch: pytest.MonkeyPatch) -> None:
    _FakeProgress.made = []
    monkeypatch.setattr(rich.progress, "Progress", _FakeProgress)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stderr is a terminal (under pytest it is a pipe)."""
    monkeypatch.setattr(data_cli, "err_console", lambda: Console(stderr=True, force_terminal=True))


def test_quick_work_shows_no_bar() -> None:
    with data_cli._progress("hashing", delay=60) as update:
        update(5, 10)
        update(10, 10)
    assert _FakeProgress.made == []


@pytest.mark.usefixtures("terminal")
def test_work_past_the_delay_shows_a_transient_bar_on_stderr() -> None:
    with data_cli._progress("hashing", delay=0) as update:
        update(5, 10)
        update(10, 10)
    [bar] = _FakeProgress.made
    assert bar.updates == [(5, 10), (10, 10)]
    assert bar.transient
    assert bar.stopped
    assert bar.console.stderr


def test_no_bar_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_cli, "err_console", lambda: Console(stderr=True, force_terminal=False))
    with data_cli._progress("hashing", delay=0) as update:
        update(5, 10)
    assert _FakeProgress.made == []
