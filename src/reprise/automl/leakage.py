"""The leakage guard: columns that give the target away are excluded before a search, and reported.

Three screens, each cheap and each explainable in one sentence:

- **identifiers**: a column that is not a float and is nearly unique (>= 95% distinct values) names rows; a model
  can only memorise it.
- **determining values**: one value of a column (with at least 20 rows) whose rows are >= 98% positive (failure,
  defect, anomaly) and hold at least half of the positives: a flag written after the fact ("replaced_part").
- **flag groups**: binary columns whose OR (or AND) agrees with the target in >= 98% of rows, though no single one
  does. A univariate screen misses these: each flag explains a share of the failures, together they are the label.

``keep`` overrides any finding (the user knows the column is available at prediction time); kept findings are
reported too, so the record says a leak was seen and kept on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["LeakFinding", "screen_leaks"]

_ID_UNIQUE: Final = 0.95
_PURITY: Final = 0.98
_MIN_SUPPORT: Final = 20
_CLASS_COVERAGE: Final = 0.5
_GROUP_AGREEMENT: Final = 0.98
#: Columns with more distinct values than this are not screened for determining values (continuous measurements).
_MAX_LEVELS: Final = 20


@dataclass(frozen=True)
class LeakFinding:
    """One reason to exclude one or more columns.

    Attributes:
        kind: ``identifier``, ``determining_value`` or ``flag_group``.
        columns: The columns concerned.
        detail: One sentence with the figures.
        kept: True when ``keep`` named every column, so none was excluded.
    """

    kind: str
    columns: tuple[str, ...]
    detail: str
    kept: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {"kind": self.kind, "columns": list(self.columns), "detail": self.detail, "kept": self.kept}


def screen_leaks(features: Any, target: Any | None, keep: Sequence[str] = ()) -> list[LeakFinding]:
    """Find the columns of ``features`` that give ``target`` away.

    Args:
        features: A DataFrame of candidate features.
        target: The binary target (a Series aligned with ``features``), or None when there are no labels (only
            identifiers are screened then).
        keep: Columns never to exclude; their findings are returned with ``kept=True``.

    Returns:
        The findings, identifiers first, in column order. The columns to drop are those of findings not kept.
    """
    findings = _identifiers(features)
    if target is not None:
        import numpy as np

        from reprise.automl.evaluate import positive_class

        labels = np.asarray(target)
        positive = positive_class(labels)
        flagged = {finding.columns[0] for finding in findings}
        findings += _determining_values(features, labels == positive, flagged)
        flagged |= {column for finding in findings for column in finding.columns}
        findings += _flag_groups(features, labels == positive, flagged)
    kept = set(keep)
    return [LeakFinding(f.kind, f.columns, f.detail, kept=True) if set(f.columns) <= kept else f for f in findings]


def _identifiers(features: Any) -> list[LeakFinding]:
    rows = len(features)
    found = []
    for column in features.columns:
        series = features[column]
        if series.dtype.kind == "f" or rows == 0:
            continue
        share = series.nunique(dropna=True) / rows
        if share >= _ID_UNIQUE:
            found.append(LeakFinding("identifier", (str(column),), f"{share:.0%} of its {rows} values are distinct"))
    return found


def _determining_values(features: Any, positive: Any, flagged: set[str]) -> list[LeakFinding]:
    """Values whose rows are (almost) all positive and hold at least half of the positives.

    Only the positive (rarer) class: a value that marks half of the negatives with few failures among them is a
    risk factor, the very thing to learn, not a leak.
    """
    import numpy as np

    total = int(positive.sum())
    found = []
    for column in features.columns:
        if str(column) in flagged or total == 0 or features[column].nunique(dropna=True) > _MAX_LEVELS:
            continue
        values = features[column].to_numpy()
        for value in _levels(values):
            rows = values == value
            support = int(rows.sum())
            if support < _MIN_SUPPORT:
                continue
            purity = float(np.mean(positive[rows]))
            coverage = float(positive[rows].sum()) / total
            if purity >= _PURITY and coverage >= _CLASS_COVERAGE:
                detail = (
                    f"{column} = {_plain(value)!r} marks a positive row in {purity:.1%} of its {support} rows "
                    f"and {coverage:.0%} of all positives"
                )
                found.append(LeakFinding("determining_value", (str(column),), detail))
                break
    return found


def _flag_groups(features: Any, positive: Any, flagged: set[str]) -> list[LeakFinding]:
    """Greedy OR and AND groups of binary columns that together reproduce the target."""
    import numpy as np

    flags = {}
    for column in features.columns:
        values = features[column]
        if str(column) in flagged or values.isna().any() or values.nunique() != 2:
            continue
        high = sorted(values.unique(), key=str)[1]
        flags[str(column)] = values.to_numpy() == high
    found = []
    for kind, gate, admits in (("OR", np.logical_or, _implies_positive), ("AND", np.logical_and, _implied_by)):
        members = [name for name, flag in flags.items() if admits(flag, positive)]
        # Greedy: most informative flags first, each kept only if it brings the group closer to the target.
        members.sort(key=lambda name: -_agreement(flags[name], positive))
        group: list[str] = []
        combined: Any = None
        for name in members:
            trial = flags[name] if combined is None else gate(combined, flags[name])
            if combined is None or _agreement(trial, positive) > _agreement(combined, positive):
                group.append(name)
                combined = trial
        if len(group) >= 2 and _agreement(combined, positive) >= _GROUP_AGREEMENT:
            agreement = _agreement(combined, positive)
            detail = f"{f' {kind} '.join(group)} equals the target in {agreement:.1%} of rows"
            found.append(LeakFinding("flag_group", tuple(group), detail))
    return found


def _implies_positive(flag: Any, positive: Any) -> bool:
    """Rows with the flag set are (almost) all positive: an OR member."""
    return bool(flag.sum() >= 1 and positive[flag].mean() >= _PURITY)


def _implied_by(flag: Any, positive: Any) -> bool:
    """Positive rows (almost) all have the flag set: an AND member."""
    return bool(positive.sum() >= 1 and flag[positive].mean() >= _PURITY)


def _agreement(flag: Any, positive: Any) -> float:
    return float((flag == positive).mean())


def _levels(values: Any) -> list[Any]:
    import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information

    return sorted((value for value in pd.unique(values) if not pd.isna(value)), key=str)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (for messages: ``1.0``, not ``np.float64(1.0)``)."""
    return value.item() if hasattr(value, "item") else value
