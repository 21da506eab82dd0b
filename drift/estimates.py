"""What a drift check says beyond its columns: the model's estimated performance, the drift of its
outputs, and the multivariate drift of its inputs.

- Estimated performance, without labels: nannyml's CBPE for a classifier with probabilities
  (accuracy, roc_auc, f1) or DLE for a regressor (mae, rmse), fitted once per version on its drift
  sample (labelled, held out of training) with the model's outputs on it, applied to the whole
  subject as one window. With feedback in the window, the realized value rides beside it.
- Prediction drift: the model's outputs on the subject against its outputs on the drift sample,
  compared like a feature with "auto" (class labels: chi-square test; regression outputs: KS).
- Multivariate drift: nannyml's PCA reconstruction error, when the baseline is large enough.

None of them counts toward the check's ``drift_detected`` or ``drifted_share`` (README, "Drift").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from core.exceptions import ApplicationError
from drift import clients
from drift.comparison import AUTO, COMPLETED, drift_compare, is_continuous
from drift.models import DriftSample
from registry.serving import ServedModel, frame_check, predict, served_model_get

logger = logging.getLogger(__name__)

CLASSIFICATION_METRICS = ("accuracy", "roc_auc", "f1")
REGRESSION_METRICS = ("mae", "rmse")
LOSS_METRICS = frozenset(REGRESSION_METRICS)
CBPE = "cbpe"
DLE = "dle"
# nannyml's band width: its confidence band (SAMPLING_ERROR_RANGE) and StandardDeviationThreshold.
BAND_SIGMAS = 3.0
PREDICTION = "prediction"
RECONSTRUCTION = "pca_reconstruction"
# The columns of an estimate of one metric, as the event keeps it.
METRIC_FIELDS = (
    "value", "lower", "upper", "sampling_error", "reference_value", "reference_lower", "reference_upper",
    "lower_threshold", "upper_threshold", "realized",
)  # fmt: skip


def estimate_min_rows() -> int:
    """Return the fewest subject rows an estimate needs: those of a drift verdict."""
    return settings.MLSERVICE_DRIFT_MIN_ROWS


def estimate_min_reference_rows() -> int:
    """Return the fewest labelled drift-sample rows an estimate needs: nannyml's 6 chunks of the minimum."""
    return clients.MIN_REFERENCE_CHUNKS * settings.MLSERVICE_DRIFT_MIN_ROWS


def reconstruction_min_chunk(columns: int) -> int:
    """Return nannyml's suggested minimum chunk for PCA reconstruction of ``columns`` columns: int(20 d^(5/6))."""
    return int(20 * columns ** (5 / 6))


# --- Model signals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSignals:
    """The model's side of a check: its estimated performance and the drift of its outputs."""

    estimated_performance: dict[str, Any]
    prediction_drift: dict[str, Any]


@dataclass(frozen=True)
class _Reference:
    """The version's drift sample as the estimators see it: inputs, labels and the model's outputs."""

    inputs: pd.DataFrame
    target: pd.Series | None
    predictions: np.ndarray
    probabilities: np.ndarray | None


def model_signals_compute(
    *,
    model_name: str,
    model_version: str,
    sample: DriftSample | None,
    subject: pd.DataFrame,
    ground_truth: pd.Series | None,
    alpha: float,
    correction: str,
) -> ModelSignals:
    """Return the version's estimated performance on ``subject`` and the drift of its outputs.

    ``ground_truth`` (aligned with the subject's rows, None where unknown) gives realized values.
    Whatever can't be computed says why in ``reason``; an unreachable dependency (MLflow, storage)
    is such a reason, not a failed check.
    """
    if sample is None:
        return model_signals_unavailable(f"{model_name} v{model_version} has no drift sample to estimate against.")
    if len(subject) < estimate_min_rows():
        return model_signals_unavailable(
            f"An estimate needs at least {estimate_min_rows()} rows of data; got {len(subject)}."
        )
    try:
        model = served_model_get(name=model_name, version=model_version)
        reference = _reference_outputs(model, sample)
        inputs, predicted, probabilities = _outputs(model, subject)
    except ApplicationError as exc:
        return model_signals_unavailable(exc.message)
    if ground_truth is None and sample.target and sample.target in subject.columns:
        ground_truth = subject[sample.target]
    classes = _classes(model)
    prediction_drift = _prediction_drift(
        reference.predictions, predicted, classifier=classes is not None, alpha=alpha, correction=correction,
        reference_key=("prediction", model.name, model.version, str(sample.pk)),
    )  # fmt: skip
    try:
        estimate = _estimated_performance(
            model, sample, reference, inputs, predicted, probabilities, ground_truth, classes
        )
    except Exception as exc:  # nannyml refusing this reference or window costs the estimate, not the check
        logger.exception("Estimating the performance of %s v%s failed", model_name, model_version)
        metric = CLASSIFICATION_METRICS[0] if classes is not None else REGRESSION_METRICS[0]
        estimate = _performance_unavailable(metric, None, f"nannyml could not estimate: {exc}")
    return ModelSignals(estimated_performance=estimate, prediction_drift=prediction_drift)


def model_signals_unavailable(reason: str, metric: str | None = None) -> ModelSignals:
    """Return signals that say why there are none."""
    return ModelSignals(
        estimated_performance=_performance_unavailable(metric, None, reason), prediction_drift=_no_drift(reason)
    )


def _classes(model: ServedModel) -> list[Any] | None:
    """Return a classifier's classes, or None for a regressor."""
    classes = getattr(model.estimator, "classes_", None)
    return None if classes is None else list(classes)


def _outputs(model: ServedModel, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """Return the model's inputs from ``frame`` (other columns dropped), its predictions and probabilities."""
    known = [column for column in frame.columns if not model.columns or column in model.columns]
    inputs = frame_check(model, frame[known])
    predicted, probabilities = predict(model, inputs, probabilities=model.has_probabilities)
    return inputs, predicted, probabilities


def _reference_outputs(model: ServedModel, sample: DriftSample) -> _Reference:
    """Return the model's outputs on its drift sample, computed once per version."""

    def compute() -> _Reference:
        frame = clients.parquet_read(str(sample.file.name))
        inputs, predicted, probabilities = _outputs(model, frame)
        target = frame[sample.target] if sample.target and sample.target in frame.columns else None
        return _Reference(inputs=inputs, target=target, predictions=predicted, probabilities=probabilities)

    return clients.estimator_cache.get_or_fit(("outputs", model.name, model.version, str(sample.pk)), compute)


# --- Estimated performance ------------------------------------------------------------------------


def _estimated_performance(
    model: ServedModel,
    sample: DriftSample,
    reference: _Reference,
    inputs: pd.DataFrame,
    predicted: np.ndarray,
    probabilities: np.ndarray | None,
    ground_truth: pd.Series | None,
    classes: list[Any] | None,
) -> dict[str, Any]:
    method, metrics = (DLE, REGRESSION_METRICS) if classes is None else (CBPE, CLASSIFICATION_METRICS)
    if classes is not None and (probabilities is None or reference.probabilities is None):
        return _performance_unavailable(metrics[0], method, "CBPE needs the model's probabilities.")
    if reference.target is None:
        return _performance_unavailable(metrics[0], method, "The drift sample keeps no target column.")
    labelled = reference.target.notna().to_numpy()
    reference_rows = int(labelled.sum())
    if reference_rows < estimate_min_reference_rows():
        return _performance_unavailable(
            metrics[0], method,
            f"The drift sample has {reference_rows} labelled rows; an estimate needs at least "
            f"{estimate_min_reference_rows()} ({clients.MIN_REFERENCE_CHUNKS} reference chunks of "
            f"{estimate_min_rows()} rows for nannyml's thresholds).",
        )  # fmt: skip
    chunk_size = max(estimate_min_rows(), reference_rows // clients.REFERENCE_CHUNKS)
    reference_frame = estimator_frame(
        classes, reference.inputs[labelled], reference.predictions[labelled],
        None if reference.probabilities is None else reference.probabilities[labelled], reference.target[labelled],
    )  # fmt: skip
    subject_frame = estimator_frame(classes, inputs, predicted, probabilities, ground_truth)
    labelled_rows = int(subject_frame[clients.Y_TRUE].notna().sum())

    def fit() -> clients.FittedEstimator:
        return clients.performance_estimator_fit(
            reference=reference_frame, problem_type=_problem_type(classes), metrics=list(metrics),
            chunk_size=chunk_size, y_pred_proba=_probability_columns(classes), features=list(inputs.columns),
        )  # fmt: skip

    fitted = clients.estimator_cache.get_or_fit(
        ("performance", model.name, model.version, str(sample.pk), chunk_size), fit
    )
    estimates = clients.performance_estimate(fitted=fitted, subject=subject_frame)
    entries = {
        metric: _metric_entry(
            estimates[metric], fitted.reference[metric], loss=metric in LOSS_METRICS, rows=len(subject_frame),
            chunk_size=chunk_size, labelled_rows=labelled_rows,
        )
        for metric in metrics
    }  # fmt: skip
    primary = metrics[0]
    return {
        "metric": primary, "method": method, **entries[primary], "chunk_size": chunk_size,
        "rows": len(subject_frame), "labelled_rows": labelled_rows,
        "metrics": {metric: entries[metric] for metric in metrics[1:]}, "reason": "",
    }  # fmt: skip


def _metric_entry(
    estimate: clients.MetricEstimate,
    reference: clients.MetricEstimate,
    *,
    loss: bool,
    rows: int,
    chunk_size: int,
    labelled_rows: int,
) -> dict[str, Any]:
    """Return one metric's estimate, its reference band and the alert.

    The alert rule: the estimate leaves nannyml's threshold band (mean +- 3 std of the realized
    metric over the drift sample's chunks of ``chunk_size`` rows), applied only when the window is at
    least that large (a smaller window is noisier than that band allows); or the estimate is worse
    than the reference band (the drift sample's realized value +- 3 sampling errors of a window of
    this size): below it for a score, above it for a loss.
    """
    value, error, reference_value = estimate.value, estimate.sampling_error, reference.realized
    reference_lower = reference_upper = None
    if reference_value is not None and error is not None:
        reference_lower = reference_value - BAND_SIGMAS * error
        reference_upper = reference_value + BAND_SIGMAS * error
    outside_band = (
        value is not None
        and rows >= chunk_size
        and (
            (estimate.lower_threshold is not None and value < estimate.lower_threshold)
            or (estimate.upper_threshold is not None and value > estimate.upper_threshold)
        )
    )
    worse = value is not None and (
        (loss and reference_upper is not None and value > reference_upper)
        or (not loss and reference_lower is not None and value < reference_lower)
    )
    return {
        "value": value, "lower": estimate.lower, "upper": estimate.upper, "sampling_error": error,
        "reference_value": reference_value, "reference_lower": reference_lower, "reference_upper": reference_upper,
        "lower_threshold": estimate.lower_threshold, "upper_threshold": estimate.upper_threshold,
        "realized": estimate.realized if labelled_rows else None, "alert": bool(outside_band or worse),
    }  # fmt: skip


def _performance_unavailable(metric: str | None, method: str | None, reason: str) -> dict[str, Any]:
    return {"metric": metric, "method": method, **dict.fromkeys(METRIC_FIELDS), "alert": False, "chunk_size": None,
            "rows": None, "labelled_rows": 0, "metrics": {}, "reason": reason}  # fmt: skip


def _problem_type(classes: list[Any] | None) -> str:
    if classes is None:
        return "regression"
    return "classification_binary" if len(classes) == 2 else "classification_multiclass"


def _probability_columns(classes: list[Any] | None) -> str | dict[str, str] | None:
    if classes is None:
        return None
    if len(classes) == 2:
        return clients.Y_PROBA
    return {str(label): f"{clients.Y_PROBA}_{index}" for index, label in enumerate(classes)}


def estimator_frame(
    classes: list[Any] | None,
    inputs: pd.DataFrame,
    predicted: np.ndarray,
    probabilities: np.ndarray | None,
    truth: pd.Series | None,
) -> pd.DataFrame:
    """Return the frame CBPE or DLE reads: outputs, labels (missing where unknown) and, for DLE, inputs.

    Binary: the probability of the second class, and predictions and labels as 0/1 for it (nannyml's
    positive class). Multiclass: one probability column per class, labels as strings.
    """
    rows = len(inputs)
    truth_values = pd.Series([None] * rows, dtype=object) if truth is None else truth.reset_index(drop=True)
    if classes is None:
        frame = inputs.reset_index(drop=True).copy()
        frame[clients.Y_PRED] = np.asarray(predicted, dtype=float)
        frame[clients.Y_TRUE] = pd.to_numeric(truth_values, errors="coerce").astype(float)
        return frame
    assert probabilities is not None
    labels = _labels(truth_values, classes)
    predicted_labels = _labels(pd.Series(predicted, dtype=object), classes)
    if len(classes) == 2:
        positive = str(classes[1])
        return pd.DataFrame({
            clients.Y_PROBA: probabilities[:, 1],
            clients.Y_PRED: (predicted_labels == positive).astype(int),
            clients.Y_TRUE: np.where(labels.isna(), np.nan, (labels == positive).astype(float)),
        })  # fmt: skip
    frame = pd.DataFrame({f"{clients.Y_PROBA}_{index}": probabilities[:, index] for index in range(len(classes))})
    frame[clients.Y_PRED] = predicted_labels.to_numpy()
    frame[clients.Y_TRUE] = labels.to_numpy()
    return frame


def _labels(values: pd.Series, classes: list[Any]) -> pd.Series:
    """Return ``values`` as the model's class names (strings); None where missing or not a class.

    Feedback arrives as JSON, so 1 must match a class 1.0 or numpy's 1: classes are looked up by
    value, not by type.
    """
    names = {_plain(label): str(label) for label in classes}

    def name(value: Any) -> str | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        try:
            return names.get(_plain(value))
        except TypeError:  # unhashable (a list sent as feedback)
            return None

    return pd.Series([name(value) for value in values], dtype=object)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --- Prediction drift -----------------------------------------------------------------------------


def _prediction_drift(
    reference: np.ndarray,
    predicted: np.ndarray,
    *,
    classifier: bool,
    alpha: float,
    correction: str,
    reference_key: Hashable,
) -> dict[str, Any]:
    """Compare the model's outputs on the subject with its outputs on the drift sample, like a feature.

    Class labels are compared as categories (chi-square test, or Jensen-Shannon from the distance
    crossover on), regression outputs as numbers (KS test, or Jensen-Shannon): the features' "auto".
    The outputs on the drift sample are computed once per version (``_reference_outputs``), and so is
    the distance calculator fitted on them (``reference_key``, as the features' calculators are).
    """

    def column(values: np.ndarray) -> pd.DataFrame:
        if classifier:
            return pd.DataFrame({PREDICTION: pd.Series([str(value) for value in values], dtype=object)})
        return pd.DataFrame({PREDICTION: np.asarray(values, dtype=float)})

    comparison = drift_compare(
        baseline=column(reference), subject=column(predicted), columns=[PREDICTION],
        methods={"continuous": AUTO, "categorical": AUTO}, alpha=alpha, correction=correction,
        reference_key=reference_key,
    )  # fmt: skip
    if comparison.status != COMPLETED:
        return _no_drift(comparison.message)
    return {**comparison.features[0].as_dict(), "reason": ""}


def _no_drift(reason: str) -> dict[str, Any]:
    return {"column": PREDICTION, "kind": None, "method": None, "value": None, "p_value": None,
            "adjusted_p_value": None, "threshold": None, "lower_threshold": None, "alert": False,
            "reason": reason}  # fmt: skip


# --- Multivariate drift ---------------------------------------------------------------------------


def multivariate_drift(
    *, baseline: pd.DataFrame, subject: pd.DataFrame, columns: list[str], reference_key: Any
) -> dict[str, Any]:
    """Return nannyml's PCA reconstruction error of ``subject`` against the band ``baseline`` sets.

    Large enough means nannyml's rule of thumb: chunks of at least int(20 d^(5/6)) rows for d
    columns (its suggested minimum chunk for data reconstruction), at least 6 of them (its minimum
    for thresholds) on the half of the baseline that sets the band; so a baseline of 12 such chunks,
    and a subject of at least one.
    """
    if len(columns) < 2:
        return multivariate_unavailable("Multivariate drift needs at least two columns.")
    min_chunk = reconstruction_min_chunk(len(columns))
    need = 2 * clients.MIN_REFERENCE_CHUNKS * min_chunk
    if len(baseline) < need:
        return multivariate_unavailable(
            f"The baseline has {len(baseline)} rows; PCA reconstruction of {len(columns)} columns needs at least "
            f"{need} (half of it in {clients.MIN_REFERENCE_CHUNKS} chunks of {min_chunk} rows, nannyml's "
            "suggested minimum chunk, to set the band)."
        )
    if len(subject) < min_chunk:
        return multivariate_unavailable(
            f"PCA reconstruction of {len(columns)} columns needs at least {min_chunk} rows of data; got {len(subject)}."
        )
    chunk_size = max(min_chunk, min(len(subject), (len(baseline) // 2) // clients.REFERENCE_CHUNKS))
    categorical = [column for column in columns if not is_continuous(baseline[column])]
    result = clients.reconstruction_drift(
        reference=baseline[columns], subject=subject[columns], categorical=categorical, chunk_size=chunk_size,
        reference_key=reference_key,
    )  # fmt: skip
    return {"method": RECONSTRUCTION, "value": result.value, "lower": result.lower, "upper": result.upper,
            "alert": result.alert, "chunk_size": result.chunk_size, "reason": ""}  # fmt: skip


def multivariate_unavailable(reason: str) -> dict[str, Any]:
    """Return a multivariate result that says why there is none."""
    return {"method": RECONSTRUCTION, "value": None, "lower": None, "upper": None, "alert": False,
            "chunk_size": None, "reason": reason}  # fmt: skip
