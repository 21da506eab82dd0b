"""The operator's page of one registered model: everything it shows, read from indexed or summary data.

Nothing here scans the prediction store: the volume comes from the daily summary (today counted
live through an index), feedback from a partial index bounded to a window, drift checks from the
(model, version, time) index, jobs from the (model, time) index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from core.exceptions import NotFound
from drift.models import DriftEvent
from drift.selectors import recent_checks
from models_api.estimators import ESTIMATORS, REGRESSION
from models_api.models import Job, RetrainPolicy
from predictions.selectors import RealizedPerformance, realized_performance
from predictions.services import DayVolume, prediction_volume_by_day
from registry.models import ModelVersion

# The page's windows: days of volume, checks per version, jobs, versions with drift and feedback.
VOLUME_DAYS = 30
CHECKS_PER_VERSION = 20
RECENT_JOBS = 15
VERSIONS_MONITORED = 8
# What a job page shows of a job (never its payload's data or its traceback).
JOB_FIELDS = ("id", "kind", "status", "model_name", "result", "error", "drift_event_id", "created_at", "finished_at")


@dataclass(frozen=True)
class Estimate:
    """One check's estimated performance, as the page draws it."""

    metric: str
    value: float | None
    reference: float | None
    realized: float | None
    alert: bool


@dataclass
class VersionOverview:
    """A version's row on the page: the mirror, its latest checks (oldest first) and its feedback."""

    version: ModelVersion
    checks: list[DriftEvent] = field(default_factory=list)
    realized: RealizedPerformance | None = None
    monitored: bool = False

    @property
    def latest(self) -> DriftEvent | None:
        return self.checks[-1] if self.checks else None

    @property
    def estimates(self) -> list[Estimate | None]:
        return [estimate_of(check) for check in self.checks]

    @property
    def latest_estimate(self) -> Estimate | None:
        return next((e for e in reversed(self.estimates) if e is not None), None)


@dataclass(frozen=True)
class ModelOverview:
    """Everything the operator's page shows of a registered model."""

    name: str
    versions: list[VersionOverview]
    volume: list[DayVolume]
    policy: RetrainPolicy | None
    jobs: list[Job]
    generated_at: datetime


def estimate_of(check: DriftEvent) -> Estimate | None:
    """Return a check's estimated performance, or None when the check has none (or says why not)."""
    estimate = check.estimated_performance or {}
    if not estimate.get("metric") or estimate.get("reason"):
        return None
    return Estimate(
        metric=str(estimate["metric"]),
        value=estimate.get("value"),
        reference=estimate.get("reference_value"),
        realized=estimate.get("realized"),
        alert=bool(estimate.get("alert")),
    )


def verdict_of(check: DriftEvent | None) -> str:
    """Return a check's verdict in words."""
    if check is None:
        return "not checked"
    if check.status == DriftEvent.Status.INSUFFICIENT_DATA:
        return "insufficient data"
    return "DRIFT" if check.drift_detected else "no drift"


def retrain_decision(job: Job) -> dict[str, Any]:
    """Return a retrain's outcome ({"status", "message", ...}) from its result, or a failed job's error."""
    if job.kind != Job.Kind.RETRAIN:
        return {}
    outcome = job.result or ((job.error or {}).get("error") or {}).get("details") or {}
    return outcome if outcome.get("status") else {}


def model_overview(*, name: str, now: datetime | None = None) -> ModelOverview:
    """Return the operator's view of a registered model; 404 when the service knows nothing of it."""
    versions = sorted(
        ModelVersion.objects.filter(registered_model_name=name).select_related("run"),
        key=lambda row: (int(row.version) if row.version.isdigit() else 0, row.version),
        reverse=True,
    )
    policy = RetrainPolicy.objects.filter(model_name=name).first()
    jobs = list(Job.objects.filter(model_name=name).order_by("-created_at").only(*JOB_FIELDS)[:RECENT_JOBS])
    if not versions and policy is None and not jobs:
        raise NotFound(f"Model {name!r} has no versions, jobs or policy here.")
    rows = [VersionOverview(version=row) for row in versions]
    # Checks and feedback for the newest versions and every version an alias points at.
    for index, row in enumerate(rows):
        if index >= VERSIONS_MONITORED and not row.version.aliases:
            continue
        row.monitored = True
        row.checks = recent_checks(model_name=name, model_version=row.version.version, limit=CHECKS_PER_VERSION)
        row.checks.reverse()
        spec = ESTIMATORS.get(row.version.estimator)
        row.realized = realized_performance(
            model_name=name, model_version=row.version.version, regression=bool(spec and spec.task == REGRESSION)
        )
    volume = prediction_volume_by_day(model_name=name, days=VOLUME_DAYS, now=now)
    return ModelOverview(
        name=name, versions=rows, volume=volume, policy=policy, jobs=jobs, generated_at=now or timezone.now()
    )


def prediction_days_keep(*, now: datetime | None = None) -> int:
    """Count and keep the closed days of every registered model's volume chart; return the models done.

    The schedule runs it, so an operator's first visit of a day finds its closed days already kept
    (the page would otherwise count them itself, once: 1.7 s for 29 days of a model at 10M rows).
    """
    names = ModelVersion.objects.values_list("registered_model_name", flat=True).distinct().order_by()
    done = 0
    for name in names:
        prediction_volume_by_day(model_name=name, days=VOLUME_DAYS, now=now)
        done += 1
    return done
