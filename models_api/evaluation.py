"""POST /evaluate: a version's quality on a dataset, or on its stored predictions with ground truth.

Runs on a job worker (models_api.jobs, kind "evaluate") and in retraining: loading the model, the
metrics and the MLflow run never happen in a web worker, which does not import this module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from core.datasets import dataset_load, frame_normalize
from core.exceptions import ApplicationError, InvalidInput
from models_api.estimators import CLASSIFICATION, REGRESSION
from models_api.metrics import metrics_compute
from registry.models import Run
from registry.services import run_create, run_fail, run_record_finished
from registry.serving import ServedModel, frame_check, model_version_resolve, served_model_get

logger = logging.getLogger(__name__)

SOURCE_DATASET = "dataset"
SOURCE_PREDICTIONS = "predictions"


@dataclass(frozen=True)
class EvaluationResult:
    """A version's metrics on some rows, recorded as an ``eval_`` run; or why there were no rows."""

    model_name: str
    model_version: str
    rows: int
    status: str = "success"
    run_id: str | None = None
    run_name: str | None = None
    metrics: dict[str, float] | None = None
    message: str | None = None


def model_evaluate(
    *,
    model_name: str,
    model_version: str | None = None,
    alias: str | None = None,
    data: Any = None,
    target: str = "target",
    source: str = SOURCE_DATASET,
    since: datetime | None = None,
    until: datetime | None = None,
    job_id: Any = None,
) -> EvaluationResult:
    """Return the metrics of a version on the given rows, recorded as an ``eval_{datetime}`` run.

    ``job_id`` links the run to the job it runs in (a job stopped at its time limit fails it).
    """
    version = model_version_resolve(name=model_name, version=model_version, alias=alias)
    model = served_model_get(name=model_name, version=version)
    if source == SOURCE_PREDICTIONS:
        features, truth = _stored_with_ground_truth(model, since=since, until=until)
        if features.empty:
            return EvaluationResult(
                model_name=model_name, model_version=version, rows=0, status="insufficient_data",
                message="No stored predictions of this version have ground truth in that period.",
            )  # fmt: skip
    else:
        features, truth = _dataset_rows(model, data, target)
    task = model_task(model)
    run = run_create(kind=Run.Kind.EVAL, model_name=model_name, model_version=version,
                     params={"source": source, "rows": len(features), "target": target}, job_id=job_id)  # fmt: skip
    try:
        metrics = metrics_compute(model=model.estimator, features=features, target=truth, task=task)
        run_record_finished(
            run=run,
            params={"model_name": model_name, "model_version": version, "source": source, "rows": len(features)},
            metrics=metrics,
            tags={"mlservice.kind": "eval", "mlservice.model_name": model_name},
        )
    except Exception as exc:
        run_fail(run=run, exc=exc)
        if isinstance(exc, ApplicationError):
            exc.run_name = run.run_name
        elif isinstance(exc, ValueError):
            raise InvalidInput(f"target: the model could not be scored on it: {exc}", run_name=run.run_name) from exc
        raise
    return EvaluationResult(model_name=model_name, model_version=version, rows=len(features),
                            run_id=run.mlflow_run_id, run_name=run.run_name, metrics=metrics)  # fmt: skip


def model_task(model: ServedModel) -> str:
    """Return classification or regression, from the estimator at the end of the pipeline."""
    from sklearn.base import is_classifier

    return CLASSIFICATION if is_classifier(model.estimator) else REGRESSION


def _dataset_rows(model: ServedModel, data: Any, target: str) -> tuple[pd.DataFrame, pd.Series]:
    if data is None:
        raise InvalidInput.for_field("data", "required when source is 'dataset'.")
    frame = dataset_load(data, field="data")
    if target not in frame.columns:
        raise InvalidInput.for_field("target", f"column {target!r} is not in the data.")
    truth = frame[target]
    if truth.isna().any():
        raise InvalidInput.for_field("target", f"{int(truth.isna().sum())} row(s) have no target value.")
    features = frame_check(model, frame[[column for column in frame.columns if column in model.columns]])
    return _as_float(model, features), truth


def _stored_with_ground_truth(
    model: ServedModel, *, since: datetime | None, until: datetime | None
) -> tuple[pd.DataFrame, pd.Series]:
    from predictions.selectors import predictions_list

    labelled = predictions_list(
        filters={
            "model_name": model.name,
            "model_version": model.version,
            "since": since,
            "until": until,
            "has_ground_truth": True,
        }
    )
    rows = list(labelled.values_list("inputs", "ground_truth"))
    if not rows:
        return pd.DataFrame(), pd.Series(dtype=object)
    features = frame_normalize(pd.DataFrame.from_records([inputs for inputs, _ in rows]))
    truth = pd.Series([ground_truth for _, ground_truth in rows])
    return _as_float(model, frame_check(model, features)), truth


def _as_float(model: ServedModel, features: pd.DataFrame) -> pd.DataFrame:
    """Cast the columns the signature calls double, as serving does through MLflow's schema."""
    if model.input_schema is None:
        return features
    doubles = [spec.name for spec in model.input_schema.inputs if getattr(spec.type, "name", "") == "double"]
    return features.astype({column: "float64" for column in doubles if column in features.columns})
