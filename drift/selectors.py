"""Reads of the drift app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from core.filters import filters_apply
from drift.filters import DriftEventFilter
from drift.models import DriftEvent


def drift_events_list(*, filters: Mapping[str, Any] | None = None) -> QuerySet[DriftEvent]:
    """Return drift events, newest first, narrowed by DriftEventFilter's ``filters``."""
    queryset = DriftEvent.objects.select_related("run", "drift_sample").order_by("-created_at", "-id")
    return filters_apply(DriftEventFilter, filters, queryset) if filters else queryset


def latest_drift_event(*, model_name: str, model_version: str) -> DriftEvent | None:
    """Return the most recent check of a version."""
    return (
        DriftEvent.objects.filter(registered_model_name=model_name, model_version=model_version)
        .order_by("-created_at", "-id")
        .first()
    )


# What the operator's page reads of each check: the verdict and the estimate, never the histograms.
CHECK_FIELDS = (
    "id",
    "registered_model_name",
    "model_version",
    "trigger",
    "status",
    "drift_detected",
    "drifted_share",
    "estimated_performance",
    "retrain_job_id",
    "created_at",
)


def recent_checks(*, model_name: str, model_version: str, limit: int) -> list[DriftEvent]:
    """Return a version's last ``limit`` checks, newest first (the driftevent_version_recent index)."""
    events = (
        DriftEvent.objects.filter(registered_model_name=model_name, model_version=model_version)
        .order_by("-created_at", "-id")
        .only(*CHECK_FIELDS)
    )
    return list(events[:limit])


# What the Prometheus collectors read of each version's latest check.
METRIC_FIELDS = (
    "registered_model_name",
    "model_version",
    "features",
    "drift_detected",
    "drifted_share",
    "estimated_performance",
    "prediction_drift",
    "multivariate",
    "created_at",
)


def latest_events_per_version() -> list[DriftEvent]:
    """Return the newest completed check of every version that has one (for the metrics)."""
    latest: dict[tuple[str, str], DriftEvent] = {}
    events = (
        DriftEvent.objects.filter(status=DriftEvent.Status.COMPLETED)
        .exclude(registered_model_name="")
        .order_by("registered_model_name", "model_version", "-created_at", "-id")
        .only(*METRIC_FIELDS)
    )
    if connection.vendor == "postgresql":
        events = events.distinct("registered_model_name", "model_version")
    for event in events:
        latest.setdefault((event.registered_model_name, event.model_version), event)
    return list(latest.values())


def drift_status(event: DriftEvent | None) -> dict[str, Any]:
    """Return the drift block of an /inference response for a version's latest check."""
    if event is None:
        return {"status": "not_checked"}
    if event.status == DriftEvent.Status.INSUFFICIENT_DATA:
        status = "insufficient_data"
    else:
        status = "drift_detected" if event.drift_detected else "no_drift"
    return {
        "status": status,
        "event_id": event.id,
        "checked_at": event.created_at.isoformat(),
        "drifted_share": event.drifted_share,
        "alerted_columns": event.alerted_columns,
    }
