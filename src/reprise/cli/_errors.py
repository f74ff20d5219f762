"""Turn exceptions into one-line messages and exit codes; ``--debug`` shows the traceback instead.

With ``--json`` an error is also written to stdout as ``{"error": {"code", "message", "hint", "exit_code"}}``, so a
script reading stdout always gets JSON; the message still goes to stderr.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from reprise.errors import RepriseError

if TYPE_CHECKING:
    from reprise.cli._argv import Invocation

__all__ = ["EXIT_CODES", "exit_codes_text", "run_cli"]

#: Exit code for an interrupted command (the shell's convention for SIGINT).
_INTERRUPTED = 130

#: Every exit code of every command, as ``reprise --help`` and the README list them.
EXIT_CODES: Final[dict[int, str]] = {
    0: "success",
    1: "a check failed or a result differs, or the operation failed",
    2: "usage or configuration error (flag, argument, reprise.toml)",
    3: "not found (run, model, version, alias), or no feasible AutoML trial",
    4: "a reproduction could not be verified (nothing to compare)",
    5: "a run's record does not match its capture (edited or corrupt)",
    6: "a release attestation is missing, untrusted or does not match",
    _INTERRUPTED: "interrupted (Ctrl+C or SIGTERM)",
}


def exit_codes_text() -> str:
    """The exit-code table as an indented block, for ``--help``."""
    lines = [f"    {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items()]
    return "Exit codes (`reprise run` exits with its command's code):\n\n" + "\n".join(lines)


def run_cli(invoke: Callable[[list[str]], int | None], invocation: Invocation) -> int:
    """Run ``invoke(invocation.args)`` and map failures to an exit code and a one-line message on stderr."""
    # typer 0.29 ships its own copy of click: its usage errors are not click.ClickException.
    from typer import Abort
    from typer._click.exceptions import ClickException

    try:
        code = invoke(invocation.args)
    except RepriseError as exc:
        if invocation.debug:
            traceback.print_exc()
        from reprise.capture.redact import redact_text

        # Wrapped MLflow/DVC messages quote URIs as given, a tracking password included.
        message, hint = redact_text(exc.message), redact_text(exc.hint) if exc.hint else None
        _report(invocation, exc.code, message, hint, exc.exit_code)
        return exc.exit_code
    except ClickException as exc:
        if invocation.json:
            _write_json_error("usage-error", exc.format_message(), None, exc.exit_code)
        exc.show()
        return exc.exit_code
    except (Abort, KeyboardInterrupt):
        _report(invocation, "interrupted", "interrupted", None, _INTERRUPTED, prefix="")
        return _INTERRUPTED
    if code == _INTERRUPTED:  # typer turns KeyboardInterrupt (SIGINT, or SIGTERM forwarded by `run`) into Exit(130)
        print("interrupted", file=sys.stderr)
    return code if isinstance(code, int) else 0


def _report(
    invocation: Invocation, code: str, message: str, hint: str | None, exit_code: int, *, prefix: str = "error: "
) -> None:
    from reprise.cli._output import printable

    if invocation.json:
        _write_json_error(code, message, hint, exit_code)
    # A message may quote bytes read from a file (a parser's sample of a bad line): never send them to the terminal.
    print(printable(f"{prefix}{message}" + (f"\n  hint: {hint}" if hint else "")), file=sys.stderr)


def _write_json_error(code: str, message: str, hint: str | None, exit_code: int) -> None:
    error = {"code": code, "message": message, "hint": hint, "exit_code": exit_code}
    sys.stdout.write(json.dumps({"error": error}, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
