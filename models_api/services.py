"""Writes of the models_api app: the Run mirror and training.

Views, admin and management commands all call these functions.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.datasets import dataset_load
from core.exceptions import ApplicationError, InvalidInput
from drift.models import DriftSample
from drift.services import drift_sample_attach, drift_sample_create, drift_sample_discard
from models_api.compiling import Compiled, fast_path_build
from models_api.estimators import CLASSIFICATION, REGRESSION, EstimatorSpec, estimator_build
from models_api.metrics import metrics_compute
from models_api.pipelines import column_kinds, pipeline_build
from registry import clients
from registry.models import ModelVersion, Run
from registry.services import model_versions_refresh_aliases, run_create, run_fail, run_succeed

logger = logging.getLogger(__name__)

DRIFT_SAMPLE_TAG = "drift_sample_id"
INPUT_EXAMPLE_ROWS = 5


class TrainingFailed(ApplicationError):
    """The estimator refused the data (e.g. one class only, a non-numeric regression target)."""

    status_code, code = 400, "training_failed"


# --- Training -----------------------------------------------------------------------------------


@dataclass
class TrainingSpec:
    """What POST /train and ``manage.py train`` take (the API contract's body)."""

    model_name: str
    data: Any
    target: str = "target"
    estimator: str = "RandomForestClassifier"
    params: dict[str, Any] = field(default_factory=dict)
    features: list[str] | None = None
    drift_sample_fraction: float = 0.1
    validation_fraction: float = 0.2
    random_state: int | None = 0
    alias: str | None = "production"
    tags: dict[str, str] = field(default_factory=dict)
    # Where the data came from when ``data`` is a slice of it (retraining): kept for the next retrain.
    data_source: dict[str, Any] | None = None

    def recorded(self) -> dict[str, Any]:
        """Return the spec without inline data: enough to retrain on new data later."""
        reusable = isinstance(self.data, dict) and bool({"uri", "builtin", "query"} & set(self.data))
        data = self.data_source or (self.data if reusable else None)
        return {
            "estimator": self.estimator,
            "params": self.params,
            "target": self.target,
            "features": self.features,
            "drift_sample_fraction": self.drift_sample_fraction,
            "validation_fraction": self.validation_fraction,
            "random_state": self.random_state,
            "alias": self.alias,
            "data": data,
        }


@dataclass
class _Split:
    features: pd.DataFrame
    target: pd.Series
    drift_sample: pd.DataFrame
    validation_features: pd.DataFrame | None
    validation_target: pd.Series | None


@dataclass(frozen=True)
class TrainResult:
    """A finished training: its run, the registered version, its drift sample and metrics."""

    run_id: str
    run_name: str
    registered_model_name: str
    model_version: str
    drift_sample_id: str | None
    metrics: dict[str, float]
    aliases: list[str]
    status: str = "success"


def model_train(*, spec: TrainingSpec, job_id: Any = None) -> TrainResult:
    """Train, log and register a model with its drift sample; all of it or none of it.

    On failure the Run row and the MLflow run are marked
    failed with the error, any registered version and drift sample are removed, and the error is
    raised with the run's name attached. ``job_id`` links the run to the job it runs in.
    """
    frame = dataset_load(spec.data, field="data")
    features, target = _features_and_target(frame, spec)
    estimator, estimator_spec = estimator_build(name=spec.estimator, params=spec.params, random_state=spec.random_state)
    _check_target(target, estimator_spec)

    run = run_create(kind=Run.Kind.TRAIN, model_name=spec.model_name, params=spec.recorded(), job_id=job_id)
    try:
        result = _train_in_run(
            run=run, spec=spec, features=features, target=target, estimator=estimator, estimator_spec=estimator_spec
        )
    except Exception as exc:
        run_fail(run=run, exc=exc)
        if isinstance(exc, ApplicationError):
            exc.run_name = run.run_name
            raise
        logger.exception("Training run %s failed", run.run_name)
        raise
    return result


def _train_in_run(
    *,
    run: Run,
    spec: TrainingSpec,
    features: pd.DataFrame,
    target: pd.Series,
    estimator: Any,
    estimator_spec: EstimatorSpec,
) -> TrainResult:
    clients.autolog_enable()
    tags = {"mlservice.kind": Run.Kind.TRAIN, "mlservice.model_name": spec.model_name}
    with clients.mlflow_run(run_name=run.run_name, tags=tags) as (run_id, experiment_id):
        run.mlflow_run_id, run.mlflow_experiment_id = run_id, experiment_id
        run.save(update_fields=["mlflow_run_id", "mlflow_experiment_id", "updated_at"])
        clients.params_log({f"mlservice.{key}": value for key, value in spec.recorded().items() if key != "params"})

        split = _split(features, target, spec=spec, task=estimator_spec.task)
        model = pipeline_build(features=split.features, estimator=estimator, scale=estimator_spec.needs_scaling)
        _fit(model, split)
        if split.validation_features is not None and split.validation_target is not None:
            validation = metrics_compute(
                model=model,
                features=split.validation_features,
                target=split.validation_target,
                task=estimator_spec.task,
            )
            clients.metrics_log({f"val_{key}": value for key, value in validation.items()})
        model_uri = _model_log(model, split.features)
        fast_path = fast_path_build(pipeline=model, model_uri=model_uri, rows=_held_out_features(split, spec))
        version, sample = _register_with_drift_sample(
            model_uri=model_uri, spec=spec, run=run, drift_sample=split.drift_sample, fast_path=fast_path
        )
        try:
            if spec.alias:
                clients.alias_set(name=spec.model_name, alias=spec.alias, version=version)
            metrics = clients.run_metrics(run_id)
        except Exception:
            _unregister(spec.model_name, version, sample)
            raise
    run_succeed(run=run, metrics=metrics, model_version=version)
    ModelVersion.objects.update_or_create(
        registered_model_name=spec.model_name,
        version=version,
        defaults={
            "run": run,
            "drift_sample_id": sample.id,
            "estimator": spec.estimator,
            "metrics": metrics,
            "fast_path": fast_path.tag,
        },
    )
    if spec.alias:
        model_versions_refresh_aliases(name=spec.model_name)
    return TrainResult(
        run_id=run_id,
        run_name=run.run_name,
        registered_model_name=spec.model_name,
        model_version=version,
        drift_sample_id=str(sample.id),
        metrics=metrics,
        aliases=[spec.alias] if spec.alias else [],
    )


def _features_and_target(frame: pd.DataFrame, spec: TrainingSpec) -> tuple[pd.DataFrame, pd.Series]:
    """Return (features, target) with the requested feature columns, numeric ones as float."""
    if spec.target not in frame.columns:
        raise InvalidInput.for_field(
            "target", f"column {spec.target!r} is not in the data (columns: {', '.join(frame.columns[:50])})."
        )
    columns = spec.features if spec.features is not None else [c for c in frame.columns if c != spec.target]
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InvalidInput(
            f"features: column(s) {', '.join(missing)} are not in the data.",
            details={"features": [f"unknown column {column!r}" for column in missing]},
        )
    if spec.target in columns:
        raise InvalidInput.for_field("features", "must not include the target column.")
    if not columns:
        raise InvalidInput.for_field("features", "no feature columns left besides the target.")
    target = frame[spec.target]
    if target.isna().any():
        raise InvalidInput.for_field("target", f"{int(target.isna().sum())} row(s) have no target value.")
    features = frame[columns]
    numeric, _ = column_kinds(features)
    # Integers are served as doubles so that a request sending 3.0 for an integer column is valid.
    return features.astype({column: "float64" for column in numeric}), target


def _check_target(target: pd.Series, estimator_spec: EstimatorSpec) -> None:
    if estimator_spec.task == REGRESSION and not pd.api.types.is_numeric_dtype(target):
        raise InvalidInput.for_field("target", "must be numeric for a regressor.")
    if estimator_spec.task == CLASSIFICATION and target.nunique() < 2:
        raise InvalidInput.for_field("target", "needs at least two classes for a classifier.")


def _split(features: pd.DataFrame, target: pd.Series, *, spec: TrainingSpec, task: str) -> _Split:
    """Set the drift sample aside first (stratified for classifiers), then the validation rows."""
    stratify = task == CLASSIFICATION
    rest_x, sample_x, rest_y, sample_y = _holdout(
        features,
        target,
        fraction=spec.drift_sample_fraction,
        stratify=stratify,
        random_state=spec.random_state,
        field="drift_sample_fraction",
    )
    drift_sample = sample_x.assign(**{spec.target: sample_y.to_numpy()})
    if not spec.validation_fraction:
        return _Split(rest_x, rest_y, drift_sample, None, None)
    train_x, val_x, train_y, val_y = _holdout(
        rest_x,
        rest_y,
        fraction=spec.validation_fraction,
        stratify=stratify,
        random_state=spec.random_state,
        field="validation_fraction",
    )
    return _Split(train_x, train_y, drift_sample, val_x, val_y)


def _holdout(
    features: pd.DataFrame, target: pd.Series, *, fraction: float, stratify: bool, random_state: int | None, field: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Return (rest_x, held_x, rest_y, held_y) with ``fraction`` of the rows held out."""
    from sklearn.model_selection import train_test_split

    held = math.ceil(fraction * len(features))
    classes = target.nunique() if stratify else 1
    if held < classes or len(features) - held < max(classes, 2):
        raise InvalidInput.for_field(
            field,
            f"{fraction} of {len(features)} rows leaves too few rows on one side"
            + (f" to hold each of the {classes} classes." if stratify else "."),
        )
    if stratify and target.value_counts().min() < 2:
        rare = target.value_counts().idxmin()
        raise InvalidInput.for_field("target", f"class {rare!r} has a single row; each class needs at least two.")
    return train_test_split(
        features, target, test_size=held, random_state=random_state, stratify=target if stratify else None
    )


def _fit(model: Any, split: _Split) -> None:
    try:
        model.fit(split.features, split.target)
    except (ValueError, TypeError) as exc:
        raise TrainingFailed(f"the estimator refused the data: {exc}", details={"estimator": [str(exc)]}) from exc


def _model_log(model: Any, features: pd.DataFrame) -> str:
    from mlflow.models import infer_signature

    example = features.head(INPUT_EXAMPLE_ROWS)
    signature = infer_signature(example, model.predict(example))
    return clients.model_log(model=model, input_example=example, signature=signature)


def _held_out_features(split: _Split, spec: TrainingSpec) -> pd.DataFrame:
    """Return the rows the model never saw (validation and drift sample), for checking its compiled graph."""
    held = [split.drift_sample.drop(columns=[spec.target])]
    if split.validation_features is not None:
        held.insert(0, split.validation_features)
    return pd.concat(held)


def _register_with_drift_sample(
    *, model_uri: str, spec: TrainingSpec, run: Run, drift_sample: pd.DataFrame, fast_path: Compiled
) -> tuple[str, DriftSample]:
    """Store the drift sample, then register the version already tagged with it (and its fast path).

    The sample exists before the version does, so no version is ever visible without one; if
    registration fails the sample is discarded.
    """
    sample = drift_sample_create(frame=drift_sample, target=spec.target, model_name=spec.model_name, run=run)
    try:
        tags = {**spec.tags, **fast_path.tags, DRIFT_SAMPLE_TAG: str(sample.id), "run_name": run.run_name}
        version = clients.model_register(model_uri=model_uri, name=spec.model_name, tags=tags)
    except Exception:
        drift_sample_discard(sample=sample)
        raise
    try:
        drift_sample_attach(sample=sample, model_version=version)
    except Exception:
        _unregister(spec.model_name, version, sample)
        raise
    return version, sample


def model_versions_unregister(*, name: str, tag: str, value: str) -> list[str]:
    """Remove the versions of ``name`` tagged ``tag=value`` and their drift samples (a killed training's)."""
    removed = []
    for version in clients.versions_tagged(name=name, key=tag, value=value):
        number = str(version.version)
        sample_id = version.tags.get(DRIFT_SAMPLE_TAG)
        sample = DriftSample.objects.filter(pk=sample_id).first() if sample_id else None
        clients.model_version_delete(name=name, version=number)
        if sample is not None:
            drift_sample_discard(sample=sample)
        ModelVersion.objects.filter(registered_model_name=name, version=number).delete()
        removed.append(number)
    return removed


def _unregister(model_name: str, version: str, sample: DriftSample) -> None:
    """Remove a version and its drift sample after a later step failed; best effort, logged."""
    try:
        clients.model_version_delete(name=model_name, version=version)
    except Exception:
        logger.exception("Could not delete model version %s v%s after a failed training", model_name, version)
    drift_sample_discard(sample=sample)
