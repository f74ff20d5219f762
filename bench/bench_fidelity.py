"""Fidelity of the verdict: every scenario of tests/fidelity captured and reproduced through the CLI.

Prints the table scenario | expected verdict | verdict | expected first cause | first cause | seconds, and the
totals: detection rate (scenarios that change something and are not called identical), false alarms on identical
re-runs (scenarios that change nothing and are not called identical), right first cause (among the scenarios that
expect one), and identical verdicts with nothing compared (must be 0). The scenarios are the test suite's own
(tests/fidelity/fidelity_scenarios.py), so the table shows what the suite asserts.

    uv run python bench/bench_fidelity.py [--only NAME]...
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fidelity"))
from fidelity_scenarios import SCENARIOS, Outcome, run_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="Run only scenarios whose name contains this.")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    chosen = [s for s in SCENARIOS if not args.only or any(part in s.name for part in args.only)]
    rows: list[tuple[str, str, str, str, str, float]] = []
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="reprise-fidelity-") as tmp:
        for number, scenario in enumerate(chosen):
            start = time.perf_counter()
            outcome = run_scenario(Path(tmp) / f"s{number}", scenario)
            seconds = time.perf_counter() - start
            outcomes.append(outcome)
            rows.append(
                (
                    scenario.name,
                    scenario.expected_verdict,
                    outcome.verdict,
                    scenario.expected_cause or "-",
                    outcome.first_cause or "-",
                    seconds,
                )
            )
            print(f"{scenario.name}: {outcome.headline[:160]} ({seconds:.0f} s)", file=sys.stderr, flush=True)
    print("| scenario | expected verdict | verdict | expected first cause | first cause | seconds |")
    print("| --- | --- | --- | --- | --- | ---: |")
    for name, expected, verdict, cause_expected, cause, seconds in rows:
        print(f"| {name} | {expected} | {verdict} | {cause_expected} | {cause} | {seconds:.0f} |")
    pairs = list(zip(chosen, outcomes, strict=True))
    changed = [(s, o) for s, o in pairs if s.detects_a_change]
    unchanged = [(s, o) for s, o in pairs if s.expected_verdict == "identical"]
    with_cause = [(s, o) for s, o in pairs if s.expected_cause is not None]
    detected = sum(o.verdict not in ("identical", "unverified") for _, o in changed)
    false_alarms = sum(o.verdict != "identical" for _, o in unchanged)
    right_cause = sum(o.first_cause == s.expected_cause for s, o in with_cause)
    empty = sum(o.verdict == "identical" and "nothing" in o.headline for o in outcomes)
    print()
    print(f"detection rate: {detected}/{len(changed)}")
    print(f"false alarms on identical re-runs: {false_alarms}/{len(unchanged)}")
    print(f"right first cause: {right_cause}/{len(with_cause)}")
    print(f"identical verdicts with nothing compared: {empty}")
    print(f"verdicts as expected: {sum(s.expected_verdict == o.verdict for s, o in pairs)}/{len(pairs)}")


if __name__ == "__main__":
    main()
