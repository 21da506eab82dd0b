"""Celery tasks of drift monitoring (thin: the work is in drift.services)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from core.exceptions import NotFound
from drift.models import DriftEvent, VersionMonitor
from drift.monitoring import CHECK_TASK, SWEEP_TASK, monitoring_check_claim
from drift.services import drift_check_version
from predictions.selectors import latest_prediction_id

logger = logging.getLogger(__name__)


@shared_task(name=CHECK_TASK, ignore_result=True)
def drift_monitoring_check(model_name: str, model_version: str) -> int | None:
    """Check a version's latest stored inputs against its drift sample (the caller holds the claim).

    A version with no drift sample (registered outside POST /train) has no baseline: the check is
    skipped with a warning, not failed with a traceback on every interval, and the schedule asks
    again only when newer predictions arrive.
    """
    newest = latest_prediction_id(model_name=model_name, model_version=model_version)
    event = None
    try:
        event = drift_check_version(
            model_name=model_name,
            model_version=model_version,
            window=settings.MLSERVICE_DRIFT_MONITOR_WINDOW,
            trigger=DriftEvent.Trigger.MONITORING,
        )
    except NotFound as exc:
        logger.warning("Drift monitoring of %s v%s skipped: %s", model_name, model_version, exc.message)
    VersionMonitor.objects.filter(registered_model_name=model_name, model_version=model_version).update(
        last_prediction_id=newest, updated_at=timezone.now()
    )
    if event is None:
        return None
    logger.info("Drift monitoring: %s", event)
    return event.id


@shared_task(name=SWEEP_TASK, ignore_result=True)
def drift_monitoring_sweep() -> int:
    """The schedule: check every monitored version with predictions newer than its last check."""
    if not settings.MLSERVICE_DRIFT_MONITOR_ENABLED:
        return 0
    checked = 0
    for row in VersionMonitor.objects.all():
        newest = latest_prediction_id(model_name=row.registered_model_name, model_version=row.model_version)
        if newest is None or newest == row.last_prediction_id:
            continue
        if monitoring_check_claim(model_name=row.registered_model_name, model_version=row.model_version):
            drift_monitoring_check.delay(row.registered_model_name, row.model_version)
            checked += 1
    return checked
