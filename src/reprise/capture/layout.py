"""Where Reprise keeps what it captured in each MLflow run: one home for the names the writer and every reader use.

Everything lives under the run's ``reprise/`` artifact folder; the record's digest is a tag, kept in the tracking
database rather than beside the record in the artifact store, so an edited record cannot carry a matching digest.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ARTIFACT_DIR",
    "AUTOML_SEARCH",
    "AUTOML_TRIALS",
    "CONSTRAINT_REPORT",
    "INPUTS",
    "OUTPUTS",
    "PATCH",
    "PIPELINE_FIT",
    "PREDICTIONS",
    "RECORD",
    "RECORD_DIGEST_TAG",
    "REPRODUCTION_HTML",
    "REPRODUCTION_JSON",
    "STDOUT",
]

#: The folder, inside each MLflow run's artifacts, that holds what Reprise captured.
ARTIFACT_DIR: Final = "reprise"
#: The RunRecord, in canonical JSON.
RECORD: Final = "record.json"
#: The uncommitted change (``git diff --binary``, untracked files included).
PATCH: Final = "code.patch"
#: The input manifest.
INPUTS: Final = "inputs.json"
#: Predictions given to ``log_predictions``.
PREDICTIONS: Final = "predictions.npy"
#: What the run printed on its standard output (the first MiB).
STDOUT: Final = "stdout.txt"
#: Folder of the small outputs whose contents a reproduction compares.
OUTPUTS: Final = "outputs"
#: Folder of a fitted feature pipeline (skops), in its run of the ``reprise-pipelines`` experiment.
PIPELINE_FIT: Final = "pipeline"
#: A reproduction's verdict, as JSON and as a self-contained HTML page.
REPRODUCTION_JSON: Final = "reproduction.json"
REPRODUCTION_HTML: Final = "reproduction.html"
#: Tag holding the sha256 of ``record.json`` as written at capture.
RECORD_DIGEST_TAG: Final = "reprise.record_digest"
#: A constrained AutoML search: its settings, constraints, presets and data (on the search's parent run).
AUTOML_SEARCH: Final = "automl_search.json"
#: Every trial of a search: parameters, seed, per-fold metrics, measured figures (on the parent run).
AUTOML_TRIALS: Final = "automl_trials.json"
#: The winner's constraint checks as measured on the artifact that ships (on the winner's run).
CONSTRAINT_REPORT: Final = "constraint_report.json"
