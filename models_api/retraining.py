"""Batch retraining: retrain a model from its production version's spec, compare, maybe promote."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.datasets import dataset_load
from core.exceptions import ApplicationError, InvalidInput
from drift.models import DriftEvent
from drift.selectors import latest_drift_event
from models_api.estimators import CLASSIFICATION, ESTIMATORS
from models_api.evaluation import model_evaluate
from models_api.services import TrainingSpec, model_train
from registry import clients
from registry.models import Run
from registry.services import model_alias_set

logger = logging.getLogger(__name__)

PRODUCTION = "production"
# The metric each task is compared on, and whether higher is better.
PRIMARY_METRIC = {CLASSIFICATION: ("accuracy", True), "regression": ("rmse", False)}
SPEC_FIELDS = (
    "target",
    "estimator",
    "params",
    "features",
    "drift_sample_fraction",
    "validation_fraction",
    "random_state",
)


@dataclass
class RetrainTarget:
    """A model to retrain: its production version and that version's recorded training spec."""

    model_name: str
    production_version: str | None
    spec: dict[str, Any] | None
    skip_reason: str = ""


@dataclass
class RetrainOutcome:
    """What happened to one model."""

    model_name: str
    status: str  # promoted, kept, trained, skipped, failed, dry-run
    production_version: str | None = None
    candidate_version: str | None = None
    metric: str = ""
    production_score: float | None = None
    candidate_score: float | None = None
    message: str = ""


def retrain_targets(*, names: list[str] | None, if_drifted: bool) -> list[RetrainTarget]:
    """Return what to retrain: the named models, or every registered one."""
    if names is None:
        names = sorted(model.name for model in clients.registered_models())
    return [_target(name, if_drifted=if_drifted) for name in names]


def _target(name: str, *, if_drifted: bool) -> RetrainTarget:
    try:
        version = clients.version_by_alias(name=name, alias=PRODUCTION)
    except ApplicationError:
        return RetrainTarget(name, None, None, skip_reason="no production version")
    run = (
        Run.objects.filter(
            kind=Run.Kind.TRAIN, status=Run.Status.SUCCEEDED, registered_model_name=name, model_version=version
        )
        .order_by("-started_at")
        .first()
    )
    if run is None or not run.params.get("estimator"):
        return RetrainTarget(name, version, None, skip_reason=f"no recorded training spec for v{version}")
    if if_drifted:
        event = latest_drift_event(model_name=name, model_version=version)
        if event is None or event.status != DriftEvent.Status.COMPLETED or not event.drift_detected:
            return RetrainTarget(name, version, run.params, skip_reason=f"no drift detected on v{version}")
    return RetrainTarget(name, version, run.params)


def model_retrain(*, target: RetrainTarget, data_uri: str | None, promote: bool) -> RetrainOutcome:
    """Retrain ``target`` on new data (or its recorded data), evaluate both versions on one holdout,
    and with ``promote`` move "production" to the candidate only if it is at least as good."""
    outcome = RetrainOutcome(target.model_name, "failed", production_version=target.production_version)
    if target.spec is None or target.production_version is None:
        raise ValueError(f"{target.model_name} has nothing to retrain from: {target.skip_reason}")
    try:
        source = {"uri": data_uri} if data_uri else target.spec.get("data")
        if not source:
            raise InvalidInput.for_field("data", "the production version was trained on inline data; give --data.")
        frame = dataset_load(source, field="data")
        task = ESTIMATORS[target.spec["estimator"]].task
        train, holdout = _holdout_split(frame, target.spec, task=task)
        candidate = model_train(spec=_candidate_spec(target, train, source))
        outcome.candidate_version = candidate.model_version
        metric, higher_is_better = PRIMARY_METRIC[task]
        outcome.metric = metric
        outcome.production_score = _score(target.model_name, target.production_version, holdout, target.spec, metric)
        outcome.candidate_score = _score(target.model_name, outcome.candidate_version, holdout, target.spec, metric)
        better_or_equal = (
            outcome.candidate_score >= outcome.production_score
            if higher_is_better
            else outcome.candidate_score <= outcome.production_score
        )
        if promote and better_or_equal:
            model_alias_set(name=target.model_name, alias=PRODUCTION, version=outcome.candidate_version)
            outcome.status = "promoted"
        else:
            outcome.status = "kept" if promote else "trained"
            outcome.message = "" if better_or_equal else "candidate is worse"
    except ApplicationError as exc:
        outcome.message = f"{exc.code}: {exc.message}"
    except Exception as exc:
        logger.exception("Retraining %s failed", target.model_name)
        outcome.message = f"{type(exc).__name__}: {exc}"
    return outcome


def _holdout_split(frame: pd.DataFrame, spec: dict[str, Any], *, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, holdout): the holdout scores both versions and is never trained on."""
    from sklearn.model_selection import train_test_split

    target = spec.get("target", "target")
    if target not in frame.columns:
        raise InvalidInput.for_field("target", f"column {target!r} is not in the new data.")
    fraction = spec.get("validation_fraction") or 0.2
    stratify = frame[target] if task == CLASSIFICATION and frame[target].value_counts().min() >= 2 else None
    train, holdout = train_test_split(
        frame, test_size=fraction, random_state=spec.get("random_state"), stratify=stratify
    )
    return train, holdout


def _candidate_spec(target: RetrainTarget, train: pd.DataFrame, source: dict[str, Any]) -> TrainingSpec:
    assert target.spec is not None
    fields = {key: target.spec[key] for key in SPEC_FIELDS if key in target.spec}
    return TrainingSpec(
        model_name=target.model_name,
        data={"dataframe_split": train.to_dict(orient="split", index=False)},
        alias=None,
        tags={"retrained_from": str(target.production_version)},
        data_source=source,
        **fields,
    )


def _score(name: str, version: str, holdout: pd.DataFrame, spec: dict[str, Any], metric: str) -> float:
    result = model_evaluate(
        model_name=name,
        model_version=version,
        data={"dataframe_split": holdout.to_dict(orient="split", index=False)},
        target=spec.get("target", "target"),
    )
    if result.metrics is None:
        raise ValueError(result.message or f"{name} v{version} could not be scored on the holdout")
    return float(result.metrics[metric])
