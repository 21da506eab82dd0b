"""POST /inference: resolve the version, predict, store every row, answer.

A 200 means every row is committed to the prediction store; nothing on this path writes to
MLflow (the window's run is written by models_api.infer_runs in the background).
"""

from __future__ import annotations

import io
import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from core.datasets import frame_normalize
from core.exceptions import ApplicationError, InvalidInput, PayloadTooLarge
from core.metrics import PREDICTIONS
from drift.monitoring import drift_status_cached, monitor
from models_api.infer_runs import recorder
from predictions.services import PredictionBatch, predictions_store
from registry.serving import ServedModel, frame_check, model_version_resolve, predict, served_model_get

INPUT_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


@dataclass(frozen=True)
class InferenceRequest:
    """Model selection plus the input, as JSON (one of INPUT_FORMATS) or CSV text."""

    model_name: str
    model_version: str | None = None
    alias: str | None = None
    payload: dict[str, Any] | None = None
    csv: str | None = None
    return_probabilities: bool = False


@dataclass(frozen=True)
class InferenceResult:
    """Predictions of a request, all stored: their ids, the window's run and the version's drift status."""

    model_name: str
    model_version: str
    request_id: uuid.UUID
    predictions: list[Any]
    prediction_ids: list[int]
    run_name: str
    drift: dict[str, Any]
    probabilities: list[list[float]] | None = None
    status: str = "success"


def inference_run(*, request: InferenceRequest) -> InferenceResult:
    """Predict every input row with the selected version, store them all, and return the result."""
    started = time.perf_counter()
    version = model_version_resolve(name=request.model_name, version=request.model_version, alias=request.alias)
    model = served_model_get(name=request.model_name, version=version)
    window = recorder.window_for(model_name=model.name, model_version=model.version)
    request_id = uuid.uuid4()
    rows = 0
    try:
        frame = frame_check(model, _input_frame(request, model))
        rows = len(frame)
        predicted, probabilities = predict(model, frame, probabilities=request.return_probabilities)
        ids = predictions_store(batch=prediction_batch_build(model, request_id, frame, predicted, probabilities))
        PREDICTIONS.labels(model.name, model.version).inc(len(ids))
        monitor.predictions_stored(model_name=model.name, model_version=model.version, rows=len(ids))
    except Exception as exc:
        _record(window, started, rows=rows, failed=True, request_id=request_id)
        if isinstance(exc, ApplicationError):
            exc.run_name = window.run_name
        raise
    _record(window, started, rows=rows, failed=False, request_id=request_id)
    return InferenceResult(
        model_name=model.name,
        model_version=model.version,
        request_id=request_id,
        predictions=predicted.tolist(),
        prediction_ids=ids,
        run_name=window.run_name,
        drift=drift_status_cached(model_name=model.name, model_version=model.version),
        probabilities=probabilities.tolist() if probabilities is not None else None,
    )


def _record(window: Any, started: float, *, rows: int, failed: bool, request_id: uuid.UUID) -> None:
    latency_ms = (time.perf_counter() - started) * 1000
    recorder.record(window, rows=rows, latency_ms=latency_ms, failed=failed, request_id=str(request_id))


def _input_frame(request: InferenceRequest, model: ServedModel) -> pd.DataFrame:
    """Parse the input with MLflow's scoring-server parsers, so its clients work unchanged."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    try:
        if request.csv is not None:
            frame = scoring_server.parse_csv_input(io.StringIO(request.csv), schema=model.input_schema)
        else:
            payload = request.payload or {}
            _check_row_count(payload)
            parsed = scoring_server.infer_and_parse_data(payload, schema=model.input_schema)
            frame = parsed if isinstance(parsed, pd.DataFrame) else _frame_from_parsed(parsed, model)
    except MlflowException as exc:
        raise InvalidInput(f"input: {exc.message}", details={"input": [exc.message]}) from exc
    if frame.empty:
        raise InvalidInput.for_field("input", "no rows to predict.")
    if len(frame) > settings.MLSERVICE_MAX_INFERENCE_ROWS:
        raise _too_many_rows(len(frame))
    return frame_normalize(frame)


def _frame_from_parsed(parsed: Any, model: ServedModel) -> pd.DataFrame:
    """Return a DataFrame from MLflow's parse of ``instances``/``inputs`` (columns or a bare array)."""
    if isinstance(parsed, dict):
        try:
            return pd.DataFrame({key: np.asarray(value).ravel() for key, value in parsed.items()})
        except ValueError as exc:
            raise InvalidInput.for_field("input", f"columns of different lengths: {exc}") from exc
    array = np.asarray(parsed)
    if array.ndim != 2 or array.shape[1] != len(model.columns):
        raise InvalidInput.for_field(
            "input", f"expected rows of {len(model.columns)} values ({', '.join(model.columns)})."
        )
    return pd.DataFrame(array, columns=list(model.columns))


def _check_row_count(payload: dict[str, Any]) -> None:
    """Refuse an over-large request before parsing it."""
    for key in INPUT_FORMATS:
        value = payload.get(key)
        if key == "dataframe_split" and isinstance(value, dict):
            value = value.get("data")
        if isinstance(value, list) and len(value) > settings.MLSERVICE_MAX_INFERENCE_ROWS:
            raise _too_many_rows(len(value))


def _too_many_rows(rows: int) -> PayloadTooLarge:
    limit = settings.MLSERVICE_MAX_INFERENCE_ROWS
    return PayloadTooLarge(
        f"input: {rows} rows is over the limit of {limit}.", details={"input": [f"at most {limit} rows"]}
    )


def prediction_batch_build(
    model: ServedModel,
    request_id: uuid.UUID,
    frame: pd.DataFrame,
    predicted: np.ndarray,
    probabilities: np.ndarray | None,
) -> PredictionBatch:
    """Serialise each row once, in C where pandas can: JSON lines of inputs, outputs and probabilities."""
    inputs = frame.to_json(orient="records", lines=True, date_format="iso").rstrip("\n").split("\n")
    outputs = _json_values(predicted)
    proba = [json.dumps(row) for row in probabilities.tolist()] if probabilities is not None else None
    return PredictionBatch(
        model_name=model.name,
        model_version=model.version,
        request_id=request_id,
        inputs=inputs,
        predictions=outputs,
        probabilities=proba,
    )


def _json_values(values: np.ndarray) -> list[str]:
    """Return each value as JSON text: numbers through str() (valid JSON when finite), NaN as null."""
    if values.dtype.kind in "iu":
        return list(map(str, values.tolist()))
    if values.dtype.kind == "f" and np.isfinite(values).all():
        return list(map(repr, values.tolist()))
    return [json.dumps(None if _is_nan(value) else value) for value in values.tolist()]


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)
