"""Retraining policies: per registered model, when a check of its production version enqueues a retrain.

GET/PUT/DELETE /models/{name}/policy and the admin call the services here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from core.datasets import dataset_load
from core.exceptions import InvalidInput, NotFound
from models_api.models import RetrainPolicy
from models_api.retraining import retrain_targets
from registry import clients


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
