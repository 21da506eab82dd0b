"""Retraining policies: per registered model, when a check of its production version enqueues a retrain.

GET/PUT/DELETE /models/{name}/policy and the admin call the services here; drift checks call
``retrain_policy_apply`` through drift.hooks (registered in ModelsAPIConfig.ready()), because drift,
a layer below, may not import this module.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.datasets import dataset_load
from core.exceptions import InvalidInput, NotFound, error_body
from drift.estimates import LOSS_METRICS
from drift.models import DriftEvent
from models_api.jobs import job_message_send
from models_api.models import Job, RetrainPolicy
from models_api.retraining import PRODUCTION, retrain_targets
from registry import clients

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicyFields:
    """What PUT /models/{name}/policy sets: the whole policy."""

    retrain_on_drift: bool = True
    min_drifted_share: float = 0.0
    retrain_on_estimated_drop: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    promote: bool = True
    cooldown_s: int = 3600


def retrain_policy_get(*, model_name: str) -> RetrainPolicy:
    """Return the retraining policy of ``model_name``, or NotFound."""
    policy = RetrainPolicy.objects.filter(model_name=model_name).first()
    if policy is None:
        raise NotFound(
            f"{model_name} has no retraining policy.",
            details={"model_name": [f"no retraining policy for {model_name!r}"]},
        )
    return policy


def retrain_policy_validate(*, model_name: str, fields: PolicyFields) -> None:
    """Check that the policy could retrain ``model_name``: the model exists and its data is there.

    Raises NotFound for an unknown model and InvalidInput naming ``data`` when no data could be
    trained on: the given dataset does not load or lacks the production version's target, or none
    is given and the production version recorded none (it was trained on inline data).
    """
    clients.registered_model(name=model_name)
    target = retrain_targets(names=[model_name], if_drifted=False)[0]
    spec = target.spec or {}
    if fields.data is None:
        if target.spec is None:
            raise InvalidInput.for_field(
                "data", f"{target.skip_reason}, so there is no recorded data to reuse: give data."
            )
        if not spec.get("data"):
            raise InvalidInput.for_field(
                "data", f"v{target.production_version} was trained on inline data, which is not kept: give data."
            )
        return
    frame = dataset_load(fields.data, field="data")
    column = spec.get("target")
    if column and column not in frame.columns:
        raise InvalidInput.for_field(
            "data", f"has no column {column!r}, the target of v{target.production_version} (production)."
        )


@transaction.atomic
def retrain_policy_put(*, model_name: str, fields: PolicyFields) -> tuple[RetrainPolicy, bool]:
    """Create or replace the policy of ``model_name``; return it and whether it was created."""
    retrain_policy_validate(model_name=model_name, fields=fields)
    drop = fields.retrain_on_estimated_drop
    values = {
        "retrain_on_drift": fields.retrain_on_drift,
        "min_drifted_share": fields.min_drifted_share,
        "estimated_drop_metric": drop["metric"] if drop else "",
        "estimated_drop_min": drop["min_drop"] if drop else None,
        "data": fields.data,
        "promote": fields.promote,
        "cooldown_s": fields.cooldown_s,
    }
    # Locked like every decision of the policy (models_api.policies evaluation), so a check being
    # evaluated sees the old policy or the new one, never half of each.
    policy = RetrainPolicy.objects.select_for_update().filter(model_name=model_name).first()
    if policy is None:
        return RetrainPolicy.objects.create(model_name=model_name, **values), True
    for name, value in values.items():
        setattr(policy, name, value)
    policy.save()
    return policy, False


def retrain_policy_delete(*, model_name: str) -> None:
    """Remove the policy of ``model_name`` (checks then enqueue nothing), or NotFound."""
    deleted, _ = RetrainPolicy.objects.filter(model_name=model_name).delete()
    if not deleted:
        raise NotFound(
            f"{model_name} has no retraining policy.",
            details={"model_name": [f"no retraining policy for {model_name!r}"]},
        )


def policy_fields_of(policy: RetrainPolicy) -> PolicyFields:
    """Return the fields of a stored (or admin-edited) policy."""
    return PolicyFields(
        retrain_on_drift=policy.retrain_on_drift,
        min_drifted_share=policy.min_drifted_share,
        retrain_on_estimated_drop=policy.retrain_on_estimated_drop,
        data=policy.data,
        promote=policy.promote,
        cooldown_s=policy.cooldown_s,
    )


# --- Acting on a check ----------------------------------------------------------------------------


def retrain_policy_reason(*, policy: RetrainPolicy, event: DriftEvent) -> str:
    """Return why ``event`` meets ``policy`` ("" when it doesn't): the drift verdict, or the estimate's drop."""
    if event.status != DriftEvent.Status.COMPLETED:
        return ""
    if policy.retrain_on_drift and event.drift_detected and event.drifted_share >= policy.min_drifted_share:
        columns = ", ".join(event.alerted_columns)
        return (
            f"drift detected in check {event.pk}: drifted_share {event.drifted_share:.3f} >= "
            f"{policy.min_drifted_share:.3f} ({columns})"
        )
    metric, min_drop = policy.estimated_drop_metric, policy.estimated_drop_min
    estimate = event.estimated_performance or {}
    if not metric or min_drop is None or not estimate.get("metric"):
        return ""
    entry = estimate if estimate["metric"] == metric else (estimate.get("metrics") or {}).get(metric) or {}
    value, reference = entry.get("value"), entry.get("reference_value")
    if value is None or reference is None:
        return ""
    drop = value - reference if metric in LOSS_METRICS else reference - value
    if drop < min_drop:
        return ""
    return (
        f"estimated {metric} in check {event.pk} is {value:.4f}, {drop:.4f} worse than the reference "
        f"{reference:.4f} (min_drop {min_drop})"
    )


@transaction.atomic
def retrain_policy_apply(event: DriftEvent) -> uuid.UUID | None:
    """The drift.hooks retrain hook: enqueue one retrain job if the check meets its model's policy.

    Called inside the transaction that records the check. Only a check of the version holding
    "production" counts. Exactly one job per check, none while a retrain of the model is queued or
    running (with a fresh heartbeat), none within the cool-down: decided under a lock on the
    policy's row (SELECT ... FOR UPDATE), so concurrent checks in any number of processes take
    turns, and the job's one-to-one link to the event makes a second job for the same check
    impossible. The job is sent to the
    broker only once the transaction commits.
    """
    name = event.registered_model_name
    if not name or not event.model_version or event.status != DriftEvent.Status.COMPLETED:
        return None
    policy = RetrainPolicy.objects.filter(model_name=name).first()
    if policy is None or not retrain_policy_reason(policy=policy, event=event):
        return None
    try:
        production = clients.version_by_alias(name=name, alias=PRODUCTION)
    except NotFound:
        return None
    if production != event.model_version:
        return None
    policy = RetrainPolicy.objects.select_for_update().filter(model_name=name).first()
    if policy is None:
        return None
    reason = retrain_policy_reason(policy=policy, event=event)
    if not reason:
        return None
    existing = Job.objects.filter(drift_event=event).values_list("pk", flat=True).first()
    if existing is not None:
        return existing
    now = timezone.now()
    if policy.last_triggered_at and now < policy.last_triggered_at + timedelta(seconds=policy.cooldown_s):
        logger.info("%s: %s, but within the cool-down of the retrain at %s", name, reason, policy.last_triggered_at)
        return None
    # A job "running" whose heartbeat went stale lost its worker (the reaper will fail it): it no
    # longer blocks. A queued one does, however long the queue.
    alive = now - timedelta(seconds=settings.MLSERVICE_JOB_STALE_S)
    running = (
        Job.objects.filter(kind=Job.Kind.RETRAIN, model_name=name)
        .filter(Q(status=Job.Status.QUEUED) | Q(status=Job.Status.RUNNING, heartbeat_at__gt=alive))
        .first()
    )
    if running is not None:
        logger.info("%s: %s, but retrain job %s is %s", name, reason, running.pk, running.status)
        return None
    job = Job.objects.create(
        kind=Job.Kind.RETRAIN,
        model_name=name,
        drift_event=event,
        payload={
            "model_name": name, "data": policy.data, "promote": policy.promote, "trigger": reason,
            "production_version": event.model_version, "drift_event_id": event.pk, "policy": True,
        },
    )  # fmt: skip
    policy.last_triggered_at, policy.last_job = now, job
    policy.save(update_fields=["last_triggered_at", "last_job", "updated_at"])
    transaction.on_commit(partial(_send, job.pk))
    logger.info("%s: %s; retrain job %s enqueued", name, reason, job.pk)
    return job.pk


def _send(job_id: uuid.UUID) -> None:
    """Send a committed job to the workers; a broker that is down fails the job (the check is kept)."""
    try:
        job_message_send(str(job_id))
    except Exception as exc:  # kombu raises its own and socket errors when the broker is down
        logger.exception("Could not send retrain job %s to the broker", job_id)
        error = error_body(code="dependency_unavailable", message=f"broker is unavailable: {exc}")
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.FAILED, error=error, finished_at=timezone.now(), updated_at=timezone.now()
        )
        # A retrain that never reached a worker doesn't start the cool-down: the next check may try again.
        RetrainPolicy.objects.filter(last_job_id=job_id).update(last_triggered_at=None, updated_at=timezone.now())
