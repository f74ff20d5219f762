"""Turn exceptions into one-line messages and exit codes; ``--debug`` shows the traceback instead."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence

from reprise.errors import RepriseError

__all__ = ["run_cli"]

#: Exit code for an interrupted command (the shell's convention for SIGINT).
_INTERRUPTED = 130


def run_cli(invoke: Callable[[list[str]], int | None], argv: Sequence[str]) -> int:
    """Run ``invoke(argv)`` and map failures to an exit code and a one-line message on stderr."""
    # typer 0.29 ships its own copy of click: its usage errors are not click.ClickException.
    from typer import Abort
    from typer._click.exceptions import ClickException

    args = list(argv)
    debug = "--debug" in args
    try:
        code = invoke(args)
    except RepriseError as exc:
        if debug:
            traceback.print_exc()
        from reprise.capture.redact import redact_text

        line = f"error: {exc.message}"
        if exc.hint:
            line += f"\n  hint: {exc.hint}"
        # Wrapped MLflow/DVC messages quote URIs as given, a tracking password included.
        print(redact_text(line), file=sys.stderr)
        return exc.exit_code
    except ClickException as exc:
        exc.show()
        return exc.exit_code
    except (Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return _INTERRUPTED
    if code == _INTERRUPTED:  # typer turns KeyboardInterrupt (SIGINT, or SIGTERM forwarded by `run`) into Exit(130)
        print("interrupted", file=sys.stderr)
    return code if isinstance(code, int) else 0
