"""The compiled fast path: convert a fitted pipeline to ONNX (skl2onnx), verify it, keep it with its version.

A graph is kept only when onnxruntime, run on held-out rows through registry.compiled (the class
that serves it), gives what scikit-learn gives:

- classifiers: the same labels, of the same type, on every row, and probabilities within
  PROBABILITY_ATOL (absolute);
- regressors, whose prediction is itself a real number: within REGRESSION_RTOL of scikit-learn's,
  relative to max(1, |prediction|).

The graph computes in the precision scikit-learn computes in: float32 for trees (scikit-learn
casts their input to float32, and skl2onnx adjusts the thresholds so the float comparisons match),
float64 for the linear and neighbour models, float32 where float64 does not convert or verify.
Besides the held-out rows, the check runs on copies of some of them with every numeric value
missing and every categorical value missing or unseen, so imputation and unknown categories are
verified whatever the data holds.

A graph is logged as ``fast_path/model.onnx`` inside the version's logged model, whose sklearn
flavor stays as it was (``mlflow models serve`` serves the version as before), and the version is
tagged ``mlservice.fast_path`` = "onnx" or "none: <reason>". Nothing here fails a training.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from core.exceptions import NotFound
from drift.services import drift_sample_frame, drift_sample_of_version
from registry import clients
from registry.compiled import (
    ARTIFACT_DIR,
    ARTIFACT_FILE,
    CATEGORICAL_INPUT,
    FAST_PATH_ONNX,
    FAST_PATH_TAG,
    LAYOUT_KEY,
    MISSING,
    NUMERIC_INPUT,
    CompiledModel,
    Layout,
)
from registry.models import ModelVersion

logger = logging.getLogger(__name__)

PROBABILITY_ATOL = 1e-5
REGRESSION_RTOL = 1e-5
PRECISION_TAG = "mlservice.fast_path.precision"
CHECK_TAG = "mlservice.fast_path.check"
# Tag values stay short enough for an admin column and any MLflow store.
MAX_TAG_CHARS = 500
# Rows copied with missing and unseen values for the check.
PROBE_ROWS = 10
OPSET = {"": 17, "ai.onnx.ml": 3}


class NotIdentical(Exception):
    """The graph's answers differ from scikit-learn's beyond the tolerance."""


@dataclass(frozen=True)
class Compiled:
    """A verified ONNX graph of a pipeline, or the reason there is none."""

    onnx_bytes: bytes | None
    precision: str = ""
    check: str = ""
    reason: str = ""

    @classmethod
    def refused(cls, reason: str) -> Compiled:
        return cls(onnx_bytes=None, reason=reason)

    @property
    def tag(self) -> str:
        """The value of the version's ``mlservice.fast_path`` tag."""
        if self.onnx_bytes is not None:
            return FAST_PATH_ONNX
        return f"none: {self.reason}"[:MAX_TAG_CHARS]

    @property
    def tags(self) -> dict[str, str]:
        if self.onnx_bytes is None:
            return {FAST_PATH_TAG: self.tag}
        return {FAST_PATH_TAG: self.tag, PRECISION_TAG: self.precision, CHECK_TAG: self.check[:MAX_TAG_CHARS]}


# --- Conversion and verification ----------------------------------------------------------------


def pipeline_compile(*, pipeline: Any, rows: pd.DataFrame) -> Compiled:
    """Return ``pipeline`` as an ONNX graph verified on ``rows``, or the reason it can't be; never raises."""
    try:
        numeric, categorical = _input_columns(pipeline)
        precisions = _precisions(pipeline)
        check_rows = _check_rows(rows[numeric + categorical], numeric=numeric, categorical=categorical)
    except Exception as exc:
        return Compiled.refused(_describe(exc))
    failures = []
    for precision in precisions:
        try:
            onnx_bytes = _convert(pipeline, numeric=numeric, categorical=categorical, precision=precision)
            check = _verify(pipeline, CompiledModel(onnx_bytes), check_rows, held_out=len(rows))
        except Exception as exc:
            failures.append(f"{precision}: {_describe(exc)}")
            continue
        return Compiled(onnx_bytes=onnx_bytes, precision=precision, check=check)
    return Compiled.refused("; ".join(failures))


def _input_columns(pipeline: Any) -> tuple[list[str], list[str]]:
    """Return the (numeric, categorical) columns of a pipeline built by models_api.pipelines."""
    preprocess = pipeline.named_steps["preprocess"]
    columns = {name: list(selected) for name, _, selected in preprocess.transformers_ if name != "remainder"}
    unknown = set(columns) - {"numeric", "categorical"}
    if unknown:
        raise ValueError(f"unexpected preprocessing step(s) {', '.join(sorted(unknown))}")
    return columns.get("numeric", []), columns.get("categorical", [])


def _precisions(pipeline: Any) -> tuple[str, ...]:
    from sklearn.ensemble import BaseEnsemble, HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.tree import BaseDecisionTree

    trees = (BaseDecisionTree, BaseEnsemble, HistGradientBoostingClassifier, HistGradientBoostingRegressor)
    return ("float32",) if isinstance(pipeline[-1], trees) else ("float64", "float32")


def _convert(pipeline: Any, *, numeric: list[str], categorical: list[str], precision: str) -> bytes:
    """Return the ONNX graph of ``pipeline`` taking the numeric columns as one tensor, the categorical as another."""
    import onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
    from sklearn.base import is_classifier
    from sklearn.impute import SimpleImputer

    # A copy whose column transformer selects by position in [numeric..., categorical...] (the two
    # inputs side by side), and whose categorical imputer looks for the string fed for a missing value.
    twin = copy.deepcopy(pipeline)
    preprocess = twin.named_steps["preprocess"]
    position = {column: index for index, column in enumerate(numeric + categorical)}
    preprocess.transformers_ = [
        (name, step, [position[column] for column in selected] if name != "remainder" else selected)
        for name, step, selected in preprocess.transformers_
    ]
    if categorical:
        preprocess.named_transformers_["categorical"].named_steps["impute"].missing_values = MISSING

    number_type = FloatTensorType if precision == "float32" else DoubleTensorType
    inputs: list[tuple[str, Any]] = []
    if numeric:
        inputs.append((NUMERIC_INPUT, number_type([None, len(numeric)])))
    if categorical:
        inputs.append((CATEGORICAL_INPUT, StringTensorType([None, len(categorical)])))
    estimator = twin[-1]
    classifier = is_classifier(estimator)
    graph = convert_sklearn(
        twin,
        initial_types=inputs,
        target_opset=OPSET,
        options={id(estimator): {"zipmap": False}} if classifier else None,
        custom_conversion_functions={SimpleImputer: _impute_converter},
    )
    classes = np.asarray(pipeline.classes_) if classifier else None
    layout = Layout(
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        precision=precision,
        task="classification" if classifier else "regression",
        classes=tuple(classes.tolist()) if classes is not None else (),
        classes_dtype=str(classes.dtype) if classes is not None else "",
    )
    onnx.helper.set_model_props(graph, {LAYOUT_KEY: layout.to_json()})
    return graph.SerializeToString()


def _impute_converter(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer on numbers as Where(IsNaN(x), statistics, x), in the input's precision.

    skl2onnx's own converter emits ai.onnx.ml's Imputer, which onnxruntime runs on float32 only.
    Strings go to skl2onnx's converter.
    """
    from skl2onnx.common.data_types import StringTensorType, guess_numpy_type, guess_proto_type
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer

    imputer = operator.raw_operator
    if isinstance(operator.inputs[0].type, StringTensorType):
        convert_sklearn_imputer(scope, operator, container)
        return
    statistics = np.asarray(imputer.statistics_, dtype=np.float64)
    if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
        raise NotImplementedError(f"imputing {imputer.missing_values!r} rather than NaN")
    if np.isnan(statistics).any():
        # scikit-learn drops a column that had no value at all at fit time.
        raise NotImplementedError("a numeric column had no values at training")
    dtype = guess_numpy_type(operator.inputs[0].type)
    fill = scope.get_unique_variable_name("statistics")
    container.add_initializer(
        fill, guess_proto_type(operator.inputs[0].type), [1, statistics.size], statistics.astype(dtype).tolist()
    )
    isnan = scope.get_unique_variable_name("isnan")
    container.add_node("IsNaN", [operator.inputs[0].full_name], [isnan], op_version=13)
    container.add_node("Where", [isnan, fill, operator.inputs[0].full_name], [operator.outputs[0].full_name])


def _check_rows(rows: pd.DataFrame, *, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Return ``rows`` plus copies of a few with numbers missing and categories missing or unseen."""
    if rows.empty:
        raise ValueError("no held-out rows to verify the graph on")
    head = rows.head(PROBE_ROWS)
    probes = []
    if numeric:
        probes.append(head.assign(**dict.fromkeys(numeric, np.nan)))
    if categorical:
        # NaN is imputed; None and a new string are categories scikit-learn never saw.
        for value in (np.nan, None, "mlservice-unseen"):
            filled = pd.Series([value] * len(head), index=head.index, dtype=object)
            probes.append(head.assign(**dict.fromkeys(categorical, filled)))
    return pd.concat([rows, *probes], ignore_index=True)


def _verify(pipeline: Any, compiled: CompiledModel, rows: pd.DataFrame, *, held_out: int) -> str:
    """Return what was checked, or raise NotIdentical saying how the graph differs from scikit-learn."""
    expected = np.asarray(pipeline.predict(rows))
    has_probabilities = hasattr(pipeline, "predict_proba")
    predicted, probabilities = compiled.run(rows, probabilities=has_probabilities)
    if predicted.shape != expected.shape:
        raise NotIdentical(f"predictions of shape {predicted.shape}, scikit-learn's {expected.shape}")
    what = f"{held_out} held-out rows and {len(rows) - held_out} with missing or unseen values"
    if compiled.layout.task == "regression":
        gap = float(np.max(np.abs(predicted - expected) / np.maximum(1.0, np.abs(expected))))
        if not gap <= REGRESSION_RTOL:
            raise NotIdentical(f"predictions differ by up to {gap:.1e} relative (tolerance {REGRESSION_RTOL:g})")
        return f"predictions within {gap:.1e} relative (tolerance {REGRESSION_RTOL:g}) on {what}"
    if predicted.dtype != expected.dtype:
        raise NotIdentical(f"labels of type {predicted.dtype}, scikit-learn's {expected.dtype}")
    differ = int(np.sum(predicted != expected))
    if differ:
        raise NotIdentical(f"{differ} of {len(rows)} predictions differ from scikit-learn's")
    if probabilities is None:
        return f"predictions identical on {what}"
    gap = float(np.max(np.abs(probabilities - pipeline.predict_proba(rows))))
    if not gap <= PROBABILITY_ATOL:
        raise NotIdentical(f"probabilities differ by up to {gap:.1e} (tolerance {PROBABILITY_ATOL:g})")
    return f"predictions identical, probabilities within {gap:.1e} (tolerance {PROBABILITY_ATOL:g}) on {what}"


def _describe(exc: BaseException) -> str:
    """Return an error as one short line: its type and first line, and its cause's."""
    text = (str(exc).strip().splitlines() or [""])[0]
    # skl2onnx's "Unable to create node ... with name=... and attributes={<every node of every tree>}".
    text = text.split(" with name=")[0] if text.startswith("Unable to create node") else text
    described = f"{type(exc).__name__}: {text[:200]}" if not isinstance(exc, NotIdentical) else text[:200]
    cause = exc.__cause__ or exc.__context__
    if cause is not None and not isinstance(exc, NotIdentical):
        described += f" ({type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[0][:200]})"
    return described


# --- Keeping the graph with its version ---------------------------------------------------------


def fast_path_build(*, pipeline: Any, model_uri: str, rows: pd.DataFrame) -> Compiled:
    """Compile a freshly trained pipeline and log its graph with the logged model; never raises.

    Returns what to tag the version with: "onnx", or "none: <reason>" (switched off, a conversion
    or verification failure, or a failure to log the graph).
    """
    if not settings.MLSERVICE_FAST_PATH:
        return Compiled.refused("switched off at training (MLSERVICE_FAST_PATH=off)")
    compiled = pipeline_compile(pipeline=pipeline, rows=rows)
    if compiled.onnx_bytes is None:
        logger.info("No fast path for %s: %s", model_uri, compiled.reason)
        return compiled
    try:
        _graph_log(model_uri=model_uri, onnx_bytes=compiled.onnx_bytes)
    except Exception as exc:
        logger.warning("Could not log the ONNX graph of %s", model_uri, exc_info=True)
        return Compiled.refused(f"the graph could not be logged: {_describe(exc)}")
    return compiled


def _graph_log(*, model_uri: str, onnx_bytes: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="mlservice-onnx-") as directory:
        (Path(directory) / ARTIFACT_FILE).write_bytes(onnx_bytes)
        clients.logged_model_artifacts_log(model_uri=model_uri, local_dir=directory, artifact_path=ARTIFACT_DIR)


@dataclass(frozen=True)
class CompileOutcome:
    """What ``compile_models`` did with one version."""

    model_name: str
    version: str
    status: str  # "compiled", "not compiled", "skipped", "would compile"
    detail: str

    def line(self) -> str:
        return f"{self.model_name} v{self.version}: {self.status}: {self.detail}"


def model_versions_compile(
    *, model_name: str | None = None, version: str | None = None, dry_run: bool = False
) -> Iterator[CompileOutcome]:
    """Compile registered versions that have no verified graph yet, one outcome per version.

    Each is verified on its drift sample's rows; the graph goes into the version's logged model
    and the tag (and the ModelVersion row) records "onnx" or the reason. Versions already tagged
    onnx are skipped.
    """
    if version and not model_name:
        raise ValueError("a version needs its model name")
    names = [model_name] if model_name else sorted(model.name for model in clients.registered_models())
    for name in names:
        if version:
            entries = [clients.model_version_get(name=name, version=version)]
        else:
            entries = sorted(clients.model_versions(name=name), key=lambda entry: int(entry.version))
        for entry in entries:
            yield model_version_compile(name=name, entry=entry, dry_run=dry_run)


def model_version_compile(*, name: str, entry: Any, dry_run: bool = False) -> CompileOutcome:
    """Compile one registered version (``entry`` as MLflow's registry returns it), verified on its drift sample."""
    version = str(entry.version)
    current = entry.tags.get(FAST_PATH_TAG, "")
    if current == FAST_PATH_ONNX:
        return CompileOutcome(name, version, "skipped", "already onnx")
    if dry_run:
        return CompileOutcome(name, version, "would compile", f"tag now: {current or 'none'}")
    compiled = _version_compiled(name=name, version=version, source=str(entry.source))
    for key, value in compiled.tags.items():
        clients.model_version_tag_set(name=name, version=version, key=key, value=value)
    ModelVersion.objects.filter(registered_model_name=name, version=version).update(fast_path=compiled.tag)
    if compiled.onnx_bytes is None:
        return CompileOutcome(name, version, "not compiled", compiled.tag)
    return CompileOutcome(name, version, "compiled", f"onnx, {compiled.precision}: {compiled.check}")


def _version_compiled(*, name: str, version: str, source: str) -> Compiled:
    pyfunc = clients.pyfunc_load(name=name, version=version)
    schema = pyfunc.metadata.get_input_schema()
    try:
        sample = drift_sample_of_version(model_name=name, model_version=version)
    except NotFound:
        return Compiled.refused("no drift sample to verify the graph on")
    frame = drift_sample_frame(sample=sample)
    columns = list(schema.input_names()) if schema is not None else [c for c in frame.columns if c != sample.target]
    compiled = pipeline_compile(pipeline=pyfunc.get_raw_model(), rows=frame[columns])
    if compiled.onnx_bytes is None:
        return compiled
    try:
        _graph_log(model_uri=source, onnx_bytes=compiled.onnx_bytes)
    except Exception as exc:
        logger.warning("Could not log the ONNX graph of %s v%s", name, version, exc_info=True)
        return Compiled.refused(f"the graph could not be logged: {_describe(exc)}")
    return compiled
