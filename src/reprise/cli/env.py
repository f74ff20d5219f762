"""``reprise env``: capture and compare environments."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(help="Capture and compare environments (packages, Python, OS, CPU, BLAS, env vars).")
