"""Retraining: retrain a model from its production version's spec, compare on one holdout, maybe promote.

Used by ``manage.py retrain`` (in process or as jobs) and by the jobs retraining policies enqueue.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.datasets import dataset_load
from core.exceptions import ApplicationError, InvalidInput
from core.notifications import RETRAIN_FINISHED, notification_send
from drift.models import DriftEvent
from drift.selectors import latest_drift_event
from models_api.estimators import CLASSIFICATION, ESTIMATORS
from models_api.models import Job
from registry import clients
from registry.models import Run
from registry.services import model_alias_set

if TYPE_CHECKING:
    # Training and evaluation load where they run, on a job worker (imported in the functions below):
    # web workers import this module through the retraining policies and never load them.
    from models_api.services import TrainingSpec

logger = logging.getLogger(__name__)

PRODUCTION = "production"
# MLflow tags of a retrain's candidate: the decision (promoted, kept, trained, failed) and its reason.
DECISION_TAG = "mlservice.retrain.decision"
REASON_TAG = "mlservice.retrain.reason"
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
    # The decision's reason (or the error): why production moved or stayed.
    message: str = ""
    # A job's retrain: the job, and the drift check (and what in it) that triggered it, if a policy did.
    job_id: str | None = None
    drift_event_id: int | None = None
    trigger: str = ""


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


def model_retrain(
    *,
    target: RetrainTarget,
    data_uri: str | None = None,
    data: dict[str, Any] | None = None,
    promote: bool,
    job_id: str | None = None,
    job_tag: str = "",
    drift_event_id: int | None = None,
    trigger: str = "",
    expected_production: str | None = None,
) -> RetrainOutcome:
    """Retrain ``target`` on new data (or its recorded data), evaluate both versions on one holdout,
    and with ``promote`` move "production" to the candidate only if it is at least as good.

    ``data`` (a dataset value) or ``data_uri`` replace the recorded data. Every candidate is tagged
    with the decision and its reason (``mlservice.retrain.*``), before production moves. A job's
    retrain (``job_id``, tagged ``job_tag``) runs at most once however often it is delivered: a
    candidate already registered by an earlier attempt is evaluated instead of training another, and
    one already decided is finished from its tags. ``expected_production``: the version a policy's
    check saw; if production has moved since, that check no longer describes it and nothing is trained.
    """
    outcome = RetrainOutcome(
        target.model_name, "failed", production_version=target.production_version, job_id=job_id,
        drift_event_id=drift_event_id, trigger=trigger,
    )  # fmt: skip
    if target.spec is None or target.production_version is None:
        raise ValueError(f"{target.model_name} has nothing to retrain from: {target.skip_reason}")
    try:
        earlier = _candidate_of_job(target.model_name, job_tag, job_id)
        if earlier is not None and earlier.tags.get(DECISION_TAG):
            return _finished_from_tags(outcome, earlier, promote=promote)
        if earlier is None and expected_production and expected_production != target.production_version:
            outcome.status = "skipped"
            outcome.production_version = expected_production
            outcome.message = (
                f"production moved from v{expected_production} (the checked version) to "
                f"v{target.production_version} before the retrain ran"
            )
            return outcome
        source = data or ({"uri": data_uri} if data_uri else target.spec.get("data"))
        if not source:
            raise InvalidInput.for_field("data", "the production version was trained on inline data; give --data.")
        frame = dataset_load(source, field="data")
        task = ESTIMATORS[target.spec["estimator"]].task
        train, holdout = _holdout_split(frame, target.spec, task=task)
        if earlier is not None:
            outcome.candidate_version = str(earlier.version)
        else:
            from models_api.services import model_train

            tags = {job_tag: job_id} if job_tag and job_id else {}
            candidate = model_train(spec=_candidate_spec(target, train, source, tags=tags))
            outcome.candidate_version = candidate.model_version
        metric, higher_is_better = PRIMARY_METRIC[task]
        outcome.metric = metric
        outcome.production_score = _score(target.model_name, target.production_version, holdout, target.spec, metric)
        outcome.candidate_score = _score(target.model_name, outcome.candidate_version, holdout, target.spec, metric)
        _decide(outcome, promote=promote, higher_is_better=higher_is_better)
        _tag_decision(outcome)
        if outcome.status == "promoted":
            model_alias_set(name=target.model_name, alias=PRODUCTION, version=outcome.candidate_version)
    except ApplicationError as exc:
        outcome.status, outcome.message = "failed", f"{exc.code}: {exc.message}"
    except Exception as exc:
        logger.exception("Retraining %s failed", target.model_name)
        outcome.status, outcome.message = "failed", f"{type(exc).__name__}: {exc}"
    if outcome.status == "failed" and _holds_production(outcome):
        # The alias moved and a later step (the mirror's refresh) failed: say what is true.
        outcome.status = "promoted"
        outcome.message = f"promoted, but after the move: {outcome.message}"
    elif outcome.status == "failed" and outcome.candidate_version:
        _tag_decision(outcome, best_effort=True)
    return outcome


def _decide(outcome: RetrainOutcome, *, promote: bool, higher_is_better: bool) -> None:
    """Set the outcome's decision and its reason from the two scores on the holdout."""
    assert outcome.candidate_score is not None
    assert outcome.production_score is not None
    candidate, production = outcome.candidate_score, outcome.production_score
    better_or_equal = candidate >= production if higher_is_better else candidate <= production
    direction = "higher" if higher_is_better else "lower"
    scores = (
        f"{outcome.metric} {candidate:.4f} (v{outcome.candidate_version}) vs {production:.4f} "
        f"(v{outcome.production_version}) on the same holdout, {direction} is better"
    )
    if not better_or_equal:
        outcome.status = "kept" if promote else "trained"
        outcome.message = f"candidate is worse: {scores}"
    elif promote:
        outcome.status = "promoted"
        outcome.message = f"candidate is at least as good: {scores}"
    else:
        outcome.status = "trained"
        outcome.message = f"candidate is at least as good, but the retrain does not promote: {scores}"


def _tag_decision(outcome: RetrainOutcome, *, best_effort: bool = False) -> None:
    """Tag the candidate with the decision, its reason and both scores (MLflow: what the admin's links show)."""
    assert outcome.candidate_version is not None
    tags = {
        REASON_TAG: outcome.message[:5000],
        "mlservice.retrain.metric": outcome.metric,
        "mlservice.retrain.production_version": outcome.production_version or "",
        "mlservice.retrain.production_score": _tag_number(outcome.production_score),
        "mlservice.retrain.candidate_score": _tag_number(outcome.candidate_score),
        "mlservice.retrain.drift_event_id": str(outcome.drift_event_id or ""),
        "mlservice.retrain.trigger": outcome.trigger[:5000],
        # Last: a redelivered job finishes from these tags only once they are all there.
        DECISION_TAG: outcome.status,
    }
    try:
        for key, value in tags.items():
            clients.model_version_tag_set(
                name=outcome.model_name, version=outcome.candidate_version, key=key, value=value
            )
    except Exception:
        if not best_effort:
            raise
        logger.warning("Could not tag the failed retrain's candidate %s v%s", outcome.model_name,
                       outcome.candidate_version, exc_info=True)  # fmt: skip


def _holds_production(outcome: RetrainOutcome) -> bool:
    """Return whether the outcome's candidate holds "production" (False when that can't be told)."""
    if not outcome.candidate_version:
        return False
    try:
        return clients.version_by_alias(name=outcome.model_name, alias=PRODUCTION) == outcome.candidate_version
    except Exception:
        return False


def _tag_number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _candidate_of_job(model_name: str, job_tag: str, job_id: str | None) -> Any:
    """Return the version an earlier attempt of this job registered, or None."""
    if not job_tag or not job_id:
        return None
    versions = clients.versions_tagged(name=model_name, key=job_tag, value=job_id)
    return min(versions, key=lambda version: int(version.version)) if versions else None


def _finished_from_tags(outcome: RetrainOutcome, version: Any, *, promote: bool) -> RetrainOutcome:
    """Return the outcome an earlier attempt decided (tagged on its candidate); finish its promotion."""
    tags = version.tags
    outcome.status = tags[DECISION_TAG]
    outcome.message = tags.get(REASON_TAG, "")
    outcome.candidate_version = str(version.version)
    outcome.production_version = tags.get("mlservice.retrain.production_version") or outcome.production_version
    outcome.metric = tags.get("mlservice.retrain.metric", "")
    outcome.production_score = _tag_float(tags.get("mlservice.retrain.production_score"))
    outcome.candidate_score = _tag_float(tags.get("mlservice.retrain.candidate_score"))
    if outcome.status == "promoted" and promote and PRODUCTION not in (version.aliases or []):
        model_alias_set(name=outcome.model_name, alias=PRODUCTION, version=outcome.candidate_version)
    return outcome


def _tag_float(value: str | None) -> float | None:
    return float(value) if value else None


def _holdout_split(frame: pd.DataFrame, spec: dict[str, Any], *, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, holdout): the holdout scores both versions and is never trained on."""
    from sklearn.model_selection import train_test_split

    target = spec.get("target", "target")
    if target not in frame.columns:
        raise InvalidInput.for_field("target", f"column {target!r} is not in the new data.")
    fraction = spec.get("validation_fraction") or 0.2
    stratify = frame[target] if task == CLASSIFICATION and frame[target].value_counts().min() >= 2 else None
    # Seeded even when the spec isn't: a redelivered job must hold out the rows its candidate never saw.
    seed = spec.get("random_state")
    train, holdout = train_test_split(
        frame, test_size=fraction, random_state=0 if seed is None else seed, stratify=stratify
    )
    return train, holdout


def _candidate_spec(
    target: RetrainTarget, train: pd.DataFrame, source: dict[str, Any], *, tags: dict[str, str]
) -> TrainingSpec:
    from models_api.services import TrainingSpec

    assert target.spec is not None
    fields = {key: target.spec[key] for key in SPEC_FIELDS if key in target.spec}
    # Only data that can be loaded again is recorded for the next retrain (never inline rows).
    reusable = bool({"uri", "builtin"} & set(source))
    return TrainingSpec(
        model_name=target.model_name,
        data={"dataframe_split": train.to_dict(orient="split", index=False)},
        alias=None,
        tags={"retrained_from": str(target.production_version), **tags},
        data_source=source if reusable else None,
        **fields,
    )


def _score(name: str, version: str, holdout: pd.DataFrame, spec: dict[str, Any], metric: str) -> float:
    from models_api.evaluation import model_evaluate

    result = model_evaluate(
        model_name=name,
        model_version=version,
        data={"dataframe_split": holdout.to_dict(orient="split", index=False)},
        target=spec.get("target", "target"),
    )
    if result.metrics is None:
        raise ValueError(result.message or f"{name} v{version} could not be scored on the holdout")
    return float(result.metrics[metric])


def retrain_job_run(*, job: Job, job_tag: str) -> dict[str, Any]:
    """Run a retrain job (from ``manage.py retrain --async`` or a policy) and return its result.

    The result holds both scores, the ``decision`` and its ``reason``; a failed retrain raises
    ApplicationError with the same fields as details, so the job keeps them with its error.
    """
    payload = job.payload
    event_id = job.drift_event_id
    try:
        target = retrain_targets(names=[job.model_name], if_drifted=False)[0]
        if target.skip_reason:
            outcome = RetrainOutcome(
                job.model_name, "skipped", target.production_version, message=target.skip_reason,
                job_id=str(job.pk), drift_event_id=event_id, trigger=payload.get("trigger", ""),
            )  # fmt: skip
        else:
            outcome = model_retrain(
                target=target, data_uri=payload.get("data_uri"), data=payload.get("data"),
                promote=payload.get("promote", False), job_id=str(job.pk), job_tag=job_tag, drift_event_id=event_id,
                trigger=payload.get("trigger", ""), expected_production=payload.get("production_version"),
            )  # fmt: skip
    except Exception as exc:
        message = exc.message if isinstance(exc, ApplicationError) else f"{type(exc).__name__}: {exc}"
        outcome = RetrainOutcome(job.model_name, "failed", message=message, job_id=str(job.pk), drift_event_id=event_id)
        _retrain_finished_send(outcome)
        raise
    result = {**asdict(outcome), "decision": outcome.status, "reason": outcome.message}
    _retrain_finished_send(outcome)
    if outcome.status == "failed":
        raise ApplicationError(outcome.message or "retraining failed", details=result)
    return result


def _retrain_finished_send(outcome: RetrainOutcome) -> None:
    """Queue the webhook's retrain_finished event (sent as the job ends; its row follows at once)."""
    notification_send(
        event=RETRAIN_FINISHED,
        payload={**asdict(outcome), "job_id": outcome.job_id, "job_status": "failed" if outcome.status == "failed"
                 else "succeeded", "decision": outcome.status, "reason": outcome.message},
    )  # fmt: skip


def retrain_outcome_of(result: dict[str, Any]) -> RetrainOutcome:
    """Return the outcome a retrain job's result (or failed job's error details) describes."""
    known = {item.name for item in dataclass_fields(RetrainOutcome)}
    return RetrainOutcome(**{key: value for key, value in result.items() if key in known})
