"""The ONNX deployable form: a trial's pipeline converted with skl2onnx, accepted only if it answers the same.

A converted graph is a second implementation of the model (float32 arithmetic, another runtime), so it ships only
after :func:`check_equivalence` compares it with the fitted pipeline on rows the pipeline never saw: the same label
for every row, every class probability within 1e-4, and for an anomaly detector a Spearman rank correlation of its
scores of at least 0.999. Anything else is refused, naming the rows that differ (row numbers of the data file).
The held-out rows are the search's test rows: only their features are read here, never their labels, so the one
test score the winner gets stays untouched.

The graph is shaped for MLflow's ``onnx`` flavour, which is how ``reprise serve`` runs it: one input per column
(numbers as float, text as string; with several columns each input is one value per row, as ``mlflow.pyfunc``
feeds a DataFrame's columns), an output ``label`` and, for a classifier, one ``probability:<class>`` output per
class (:data:`reprise.tracking.models.ONNX_LABEL`, :data:`~reprise.tracking.models.ONNX_PROBABILITY`).

skl2onnx, onnx and onnxruntime (the ``edge`` extra) are imported here and nowhere else in Reprise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from reprise.errors import MissingExtraError

if TYPE_CHECKING:
    from reprise.automl.evaluate import SearchData

__all__ = ["Equivalence", "check_equivalence", "require_onnx", "run_onnx", "to_onnx"]

#: Largest difference of a class probability between the pipeline and its ONNX form.
PROBABILITY_TOLERANCE: Final = 1e-4
#: Smallest Spearman correlation of anomaly scores between the pipeline and its ONNX form.
MIN_RANK_CORRELATION: Final = 0.999
#: Highest opsets of the converted graph (skl2onnx lowers them to what the graph needs): ONNX Runtime 1.20+ runs them.
_OPSETS: Final = {"": 17, "ai.onnx.ml": 3}
#: Rows a refusal names (the count of all differing rows is given too).
_LISTED: Final = 20
_PROBABILITIES: Final = "probabilities"


@dataclass(frozen=True)
class Equivalence:
    """How an ONNX form compares with the pipeline it was converted from, on held-out rows.

    Attributes:
        equivalent: Same labels, probabilities within 1e-4, anomaly score ranks correlated >= 0.999.
        rows_checked: Held-out rows compared.
        differing: How many rows differ (labels or probabilities; for a rank failure, the rows ranked furthest
            apart are named).
        rows: The first differing rows, as row numbers of the data file.
        max_probability_gap: Largest class-probability difference (classifiers).
        rank_correlation: Spearman correlation of the anomaly scores (detectors).
    """

    equivalent: bool
    rows_checked: int
    differing: int = 0
    rows: tuple[int, ...] = ()
    max_probability_gap: float | None = None
    rank_correlation: float | None = None

    def describe(self) -> str:
        """One sentence: equivalent, or which rows differ and by what measure."""
        if self.equivalent:
            return f"same answers on {self.rows_checked} held-out rows"
        parts = []
        if self.max_probability_gap is not None and self.max_probability_gap > PROBABILITY_TOLERANCE:
            parts.append(f"probabilities differ by up to {self.max_probability_gap:.3g} (tolerance 1e-4)")
        if self.rank_correlation is not None and self.rank_correlation < MIN_RANK_CORRELATION:
            parts.append(f"score rank correlation {self.rank_correlation:.6f} < {MIN_RANK_CORRELATION}")
        more = f" (+{self.differing - len(self.rows)} more)" if self.differing > len(self.rows) else ""
        listed = ", ".join(map(str, self.rows))
        what = "; ".join(parts) or "labels differ"
        return f"{self.differing} of {self.rows_checked} held-out rows differ ({what}): rows {listed}{more}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON, with the sentence."""
        return {**asdict(self), "message": self.describe()}


def require_onnx() -> None:
    """Check that the ``edge`` extra is installed before a search that asks for the ONNX form starts.

    Raises:
        MissingExtraError: skl2onnx, onnx or onnxruntime is missing.
    """
    for package in ("skl2onnx", "onnx", "onnxruntime"):
        try:
            __import__(package)
        except ImportError as exc:
            raise MissingExtraError(package, "edge") from exc


def to_onnx(model: Any, data: SearchData) -> Any:
    """Convert a fitted trial pipeline to an ``onnx.ModelProto`` shaped for MLflow's ``onnx`` flavour.

    Raises:
        Exception: Whatever skl2onnx raises for a model it cannot convert (LightGBM needs onnxmltools, which the
            ``edge`` extra does not bring): the caller records it as the form's refusal.
    """
    from skl2onnx import convert_sklearn, update_registered_converter
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    from reprise.automl.zscore import RobustZScore

    update_registered_converter(RobustZScore, "RepriseRobustZScore", _zscore_shapes, _convert_zscore)
    types = [
        (column, FloatTensorType([None, 1]) if column in data.numeric else StringTensorType([None, 1]))
        for column in data.features.columns
    ]
    estimator = model.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    proto = convert_sklearn(model, initial_types=types, options=options, target_opset=dict(_OPSETS))
    if len(types) > 1:
        _one_value_per_row(proto)
    classes = getattr(model, "classes_", None)
    if classes is not None:
        _split_probabilities(proto, [str(label) for label in classes])
    import onnx

    onnx.checker.check_model(proto)
    return proto


def run_onnx(proto: Any, frame: Any) -> dict[str, Any]:
    """Answer the rows of ``frame`` with ONNX Runtime on one thread, fed as ``reprise serve`` feeds the graph.

    Returns:
        Each output by name, as ``[rows, values per row]``.
    """
    import numpy as np
    import onnxruntime

    from reprise.tracking.serving import onnx_feeds

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    names = [output.name for output in session.get_outputs()]
    answers = session.run(names, onnx_feeds(session, frame))
    return {name: np.asarray(value).reshape(len(frame), -1) for name, value in zip(names, answers, strict=True)}


def check_equivalence(model: Any, proto: Any, data: SearchData) -> Equivalence:
    """Compare the pipeline ``model`` with its ONNX form ``proto`` on the search's held-out rows.

    Args:
        model: The fitted pipeline.
        proto: Its ONNX form (as :func:`to_onnx` made it, or any graph with the same inputs and outputs).
        data: The search's data: the rows compared are ``data.test`` (features only).

    Returns:
        Whether the answers are the same, and where they are not.
    """
    import numpy as np

    from reprise.tracking.models import ONNX_LABEL, ONNX_PROBABILITY

    frame = data.features.iloc[data.test]
    answered = run_onnx(proto, frame)
    differs = np.asarray(model.predict(frame)) != answered[ONNX_LABEL][:, 0]
    order = np.flatnonzero(differs)
    gap = correlation = None
    classes = getattr(model, "classes_", None)
    if classes is not None:
        theirs = np.hstack([answered[f"{ONNX_PROBABILITY}{label}"] for label in classes])
        gaps = np.abs(np.asarray(model.predict_proba(frame)) - theirs).max(axis=1)
        gap = float(gaps.max())
        differs |= gaps > PROBABILITY_TOLERANCE
        order = np.flatnonzero(differs)
    else:
        from scipy.stats import rankdata, spearmanr  # type: ignore[import-untyped]  # no stubs installed

        ours, theirs = np.asarray(model.score_samples(frame)), answered["scores"][:, 0]
        correlation = float(spearmanr(ours, theirs).statistic)
        if correlation < MIN_RANK_CORRELATION:
            displaced = np.abs(rankdata(ours) - rankdata(theirs))
            moved = displaced > 0
            # Rows whose label differs first, then the rows ranked furthest apart.
            order = np.concatenate([order, np.argsort(-displaced, kind="stable")[: int(moved.sum())]])
            differs |= moved
    listed = list(dict.fromkeys(order.tolist()))[:_LISTED]
    rows = tuple(int(data.test[index]) for index in listed)
    return Equivalence(
        equivalent=not bool(differs.any()),
        rows_checked=len(frame),
        differing=int(differs.sum()),
        rows=rows,
        max_probability_gap=gap,
        rank_correlation=correlation,
    )


def _zscore_shapes(operator: Any) -> None:
    """A robust z-score's outputs, as skl2onnx's own outlier detectors have them: ``label`` and ``scores``."""
    from skl2onnx.common.data_types import Int64TensorType

    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = Int64TensorType([rows, 1])
    operator.outputs[1].type.shape = [rows, 1]


def _convert_zscore(scope: Any, operator: Any, container: Any) -> None:
    """:class:`~reprise.automl.zscore.RobustZScore` in ONNX: ``scores`` is its ``decision_function``."""
    import numpy as np
    from skl2onnx.algebra.onnx_ops import (
        OnnxAbs,
        OnnxDiv,
        OnnxIsNaN,
        OnnxLess,
        OnnxNeg,
        OnnxReduceMaxApi18,
        OnnxReduceMeanApi18,
        OnnxSub,
        OnnxWhere,
    )

    model, version = operator.raw_operator, container.target_opset
    floats = np.float32
    offsets = OnnxSub(operator.inputs[0], model.median_.astype(floats), op_version=version)
    distance = OnnxDiv(OnnxAbs(offsets, op_version=version), model.scale_.astype(floats), op_version=version)
    zero = np.array([0.0], dtype=floats)
    known = OnnxWhere(OnnxIsNaN(distance, op_version=version), zero, distance, op_version=version)
    reduce = OnnxReduceMaxApi18 if model.aggregate == "max" else OnnxReduceMeanApi18
    combined = reduce(known, axes=[1], keepdims=1, op_version=version)
    decision = OnnxSub(
        OnnxNeg(combined, op_version=version),
        np.array([model.offset_], dtype=floats),
        op_version=version,
        output_names=[operator.outputs[1]],
    )
    outlier = OnnxLess(decision, zero, op_version=version)
    labels = (np.array([-1], dtype=np.int64), np.array([1], dtype=np.int64))
    label = OnnxWhere(outlier, *labels, op_version=version, output_names=[operator.outputs[0]])
    decision.add_to(scope, container)
    label.add_to(scope, container)


def _one_value_per_row(proto: Any) -> None:
    """Make every ``[N, 1]`` input an ``[N]`` input reshaped inside the graph (how MLflow feeds columns).

    ``Reshape`` takes its shape as an input at every opset skl2onnx may pick (it lowers the opset to what the graph
    needs, 11 for a plain numeric pipeline), where ``Unsqueeze`` takes its axes as an input only from opset 13.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    graph = proto.graph
    column = "reprise_column_shape"
    graph.initializer.append(numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), column))
    reshapes = []
    for spec in graph.input:
        inner = f"{spec.name}__2d"
        for node in graph.node:
            node.input[:] = [inner if name == spec.name else name for name in node.input]
        del spec.type.tensor_type.shape.dim[1]
        reshapes.append(helper.make_node("Reshape", [spec.name, column], [inner], name=f"reprise_{inner}"))
    for node in reversed(reshapes):
        graph.node.insert(0, node)


def _split_probabilities(proto: Any, classes: list[str]) -> None:
    """Replace the ``[N, classes]`` probabilities output by one ``probability:<class>`` output of ``[N]`` each."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from reprise.tracking.models import ONNX_PROBABILITY

    graph = proto.graph
    kept = [output for output in graph.output if output.name != _PROBABILITIES]
    del graph.output[:]
    graph.output.extend(kept)
    for index, label in enumerate(classes):
        position = f"reprise_class_{index}"
        graph.initializer.append(numpy_helper.from_array(np.array(index, dtype=np.int64), position))
        name = f"{ONNX_PROBABILITY}{label}"
        graph.node.append(helper.make_node("Gather", [_PROBABILITIES, position], [name], axis=1))
        graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None]))
