"""Runs started in a Jupyter notebook: the command that re-runs the notebook, and the headless runner it names.

A notebook kernel has no command line worth recording (``python -m ipykernel_launcher -f kernel-1234.json``). When
``reprise.start_run`` runs in a kernel, :func:`notebook_command` finds the notebook the kernel belongs to and records
``python -m reprise.capture.notebook NB.ipynb`` instead, so ``reprise reproduce`` can re-run it like a script.

Run as a module, this file is that runner: it executes the notebook top to bottom with nbclient, in the working
directory, in a kernel running this very interpreter (never a kernelspec registered elsewhere on the machine). The
kernel gets this process's environment, so a ``start_run`` in it joins the run of ``reprise run`` around the runner
(``REPRISE_RUN_ID``), plus :data:`NOTEBOOK_ENV`. What each cell prints goes to the runner's standard output, where
it is kept and compared; the executed notebook is never written back. A cell that raises stops the run with a
non-zero exit and one line naming the cell. nbclient, nbformat and ipykernel are the ``notebook`` extra.

Example:
    $ python -m reprise.capture.notebook notebooks/train.ipynb
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from reprise.errors import CaptureError, MissingExtraError, RepriseError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["NOTEBOOK_ENV", "main", "notebook_command", "notebook_sha256", "run_notebook"]

#: Set by the runner for its kernel: the notebook being run (where neither Jupyter nor VS Code says which).
NOTEBOOK_ENV: Final = "REPRISE_NOTEBOOK"
#: Set by Jupyter Server 2 for a notebook's kernel: the notebook's path.
_JUPYTER_ENV: Final = "JPY_SESSION_NAME"
#: Set by VS Code in the kernel's ``__main__``: the notebook's path.
_VSCODE_GLOBAL: Final = "__vsc_ipynb_file__"
_RUNNER: Final = "reprise.capture.notebook"
_EXTRA: Final = "notebook"


def notebook_command(root: Path) -> list[str] | None:
    """The command that re-runs the notebook this Jupyter kernel belongs to: ``[python, -m, <runner>, NB.ipynb]``.

    The notebook is found through :data:`NOTEBOOK_ENV`, Jupyter Server's ``JPY_SESSION_NAME`` or VS Code's
    ``__vsc_ipynb_file__``; its path is made relative to the working directory (a reproduction runs in another
    checkout).

    Args:
        root: The project root: a notebook outside it cannot be re-run from a checkout of the project.

    Returns:
        The command, or None when this process is not a kernel, or the notebook cannot be found or is outside
        ``root``.

    Example:
        >>> notebook_command(Path("/work/project"))  # in a kernel of /work/project/train.ipynb  # doctest: +SKIP
        ['/work/project/.venv/bin/python', '-m', 'reprise.capture.notebook', 'train.ipynb']
    """
    if "ipykernel" not in sys.modules:
        return None
    path = _find_notebook()
    if path is None or not path.is_relative_to(root.resolve()):
        return None
    return [sys.executable, "-m", _RUNNER, os.path.relpath(path, Path.cwd())]


def notebook_sha256(command: Sequence[str] | None) -> str | None:
    """The sha256 of the notebook a command made by :func:`notebook_command` runs; None for any other command.

    Args:
        command: A recorded command line (its notebook path is relative to the working directory).

    Example:
        >>> notebook_sha256(["python", "-m", "reprise.capture.notebook", "train.ipynb"])  # doctest: +SKIP
        '3f1c...'
    """
    if command is None or len(command) != 4 or list(command[1:3]) != ["-m", _RUNNER]:
        return None
    try:
        return hashlib.sha256(Path(command[3]).read_bytes()).hexdigest()
    except OSError:
        return None


def run_notebook(path: Path) -> None:
    """Execute a notebook top to bottom in a kernel of this interpreter, printing what each cell prints.

    The kernel runs in the working directory with this process's environment plus :data:`NOTEBOOK_ENV`. The
    notebook file is read, never written.

    Args:
        path: The notebook (``.ipynb``).

    Raises:
        MissingExtraError: nbclient, nbformat or ipykernel is not installed.
        CaptureError: The notebook cannot be read, a cell raised, or the kernel died.
    """
    try:
        import nbformat
        import zmq
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, DeadKernelError
    except ImportError as exc:
        raise MissingExtraError(exc.name or "nbclient", _EXTRA) from exc
    if not _has_ipykernel():
        raise MissingExtraError("ipykernel", _EXTRA)
    try:
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as exc:  # nbformat's read errors derive from ValueError
        raise CaptureError(f"cannot read notebook {path}: {exc}", hint="check the path") from exc
    # No kernel directories: the kernelspec is ipykernel's own, whose argv is this interpreter (sys.executable).
    manager = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    if manager.has_trait("transport_encryption") and zmq.has("curve"):  # jupyter_client >= 8.10
        manager.transport_encryption = "auto"  # encrypted local sockets (ipykernel warns about plain TCP)
    current: list[int] = [0]

    def started(cell: Any, cell_index: int) -> None:
        current[0] = cell_index

    client = NotebookClient(
        notebook,
        km=manager,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path.cwd())}},
        on_cell_start=started,
        on_cell_executed=_print_outputs,
    )
    env = {**os.environ, NOTEBOOK_ENV: str(path.resolve())}
    try:
        client.execute(env=env, cleanup_kc=True)  # shut the kernel down after, though nbclient did not start it
    except CellExecutionError as exc:
        raise CaptureError(
            f"{path}: {_describe(notebook.cells[current[0]], current[0])} raised {exc.ename}: {exc.evalue}",
            hint=f"open {path} in Jupyter and run it top to bottom",
        ) from exc
    except DeadKernelError as exc:
        raise CaptureError(
            f"{path}: the kernel died in {_describe(notebook.cells[current[0]], current[0])}",
            hint="a cell that exits the process or runs out of memory stops the notebook",
        ) from exc


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m reprise.capture.notebook NB.ipynb``: run the notebook; 0 when every cell ran.

    Returns:
        The exit code: 0, or the error's exit code with one line on standard error.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m {_RUNNER}", description="Execute a notebook top to bottom, as `reprise reproduce` does."
    )
    parser.add_argument("notebook", type=Path, help="the .ipynb file, relative to the working directory")
    args = parser.parse_args(argv)
    try:
        run_notebook(args.notebook)
    except RepriseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def _find_notebook() -> Path | None:
    main_globals = vars(sys.modules["__main__"]) if "__main__" in sys.modules else {}
    for candidate in (os.environ.get(NOTEBOOK_ENV), os.environ.get(_JUPYTER_ENV), main_globals.get(_VSCODE_GLOBAL)):
        if isinstance(candidate, str) and candidate.endswith(".ipynb"):
            path = Path(candidate).expanduser()
            if path.is_file():  # Jupyter gives an absolute path; a relative one is taken from the working directory
                return path.resolve()
    return None


def _has_ipykernel() -> bool:
    import importlib.util

    return importlib.util.find_spec("ipykernel") is not None


def _print_outputs(cell: Any, cell_index: int, execute_reply: Any) -> None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            stream = sys.stdout if output.get("name") == "stdout" else sys.stderr
            stream.write(output.get("text", ""))
            stream.flush()


def _describe(cell: Any, cell_index: int) -> str:
    lines = [line.strip() for line in str(cell.get("source", "")).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return f"cell {cell_index + 1}" + (f" ({first[:60]!r})" if first else "")


if __name__ == "__main__":
    sys.exit(main())
