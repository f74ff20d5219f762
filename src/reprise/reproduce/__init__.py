"""Reproduction: re-run a captured run in a clean environment, compare, explain, audit, validate and report."""
