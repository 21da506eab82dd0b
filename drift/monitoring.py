"""Drift monitoring from inference: web workers count and enqueue, Celery workers check.

Each web process counts the predictions it stores per model version. After every
MLSERVICE_DRIFT_MONITOR_EVERY_N of them it claims a check of the version (drift.models.VersionMonitor:
an atomic conditional update, so across every replica a version gets at most one check per
MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S) and, if it won the claim, enqueues the check for a job
worker (drift.tasks). A process that knows the claim can't be won yet doesn't ask: after winning,
for the interval; after losing, for a tenth of it (another process won, at most an interval ago).
Requests of 1,000 rows are each past N: asking every time cost two queries and a commit each.
The schedule (celery beat) checks, every MLSERVICE_DRIFT_MONITOR_EVERY_S, versions with predictions
newer than their last check. Nothing here computes statistics: the web process never imports nannyml.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Now

from drift.models import VersionMonitor

logger = logging.getLogger(__name__)

CHECK_TASK = "mlservice.drift_monitoring_check"
SWEEP_TASK = "mlservice.drift_monitoring_sweep"


class DriftMonitor:
    """Per-process prediction counters; a version that reached N enqueues a check if it wins the claim."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        # When (time.monotonic) this process may next ask for a version's claim.
        self._claim_after: dict[tuple[str, str], float] = {}

    def predictions_stored(self, *, model_name: str, model_version: str, rows: int) -> bool:
        """Count stored rows; every MLSERVICE_DRIFT_MONITOR_EVERY_N of them, ask for a check (True: enqueued)."""
        if not settings.MLSERVICE_DRIFT_MONITOR_ENABLED:
            return False
        key = (model_name, model_version)
        with self._lock:
            first = key not in self._counts
            count = self._counts.get(key, 0) + rows
            due = count >= settings.MLSERVICE_DRIFT_MONITOR_EVERY_N
            self._counts[key] = 0 if due else count
        if first:
            VersionMonitor.objects.get_or_create(registered_model_name=model_name, model_version=model_version)
        if not due or not self._claim_may_be_won(key):
            return False
        enqueued = monitoring_check_enqueue(model_name=model_name, model_version=model_version)
        interval = settings.MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S
        with self._lock:
            self._claim_after[key] = time.monotonic() + (interval if enqueued else interval / 10)
        return enqueued

    def _claim_may_be_won(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return time.monotonic() >= self._claim_after.get(key, 0.0)

    def forget(self) -> None:
        """Drop every counter (tests)."""
        with self._lock:
            self._counts.clear()
            self._claim_after.clear()


monitor = DriftMonitor()


def monitoring_check_claim(*, model_name: str, model_version: str) -> bool:
    """Claim this interval's check of a version; True for exactly one caller per interval, whoever asks.

    The interval is measured on the database's clock, never the caller's: replicas whose clocks
    disagree (a web worker on one host, the schedule on another) still share one interval.
    """
    rested = Now() - timedelta(seconds=settings.MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S)
    VersionMonitor.objects.get_or_create(registered_model_name=model_name, model_version=model_version)
    claimed = VersionMonitor.objects.filter(
        Q(last_check_at__isnull=True) | Q(last_check_at__lte=rested),
        registered_model_name=model_name,
        model_version=model_version,
    ).update(last_check_at=Now(), updated_at=Now())
    return claimed == 1


def monitoring_check_enqueue(*, model_name: str, model_version: str) -> bool:
    """Queue a check of the version for a job worker if this caller wins the interval's claim.

    Never raises: monitoring must not fail a prediction that was stored. A broker that is down
    costs this interval's check (logged).
    """
    try:
        if not monitoring_check_claim(model_name=model_name, model_version=model_version):
            return False
        current_app.send_task(CHECK_TASK, args=[model_name, model_version])
    except Exception:
        logger.exception("Could not enqueue a drift check of %s v%s", model_name, model_version)
        return False
    return True


_status_cache: dict[tuple[str, str], tuple[float, dict]] = {}
_status_lock = threading.Lock()
STATUS_TTL_S = 5.0


def drift_status_cached(*, model_name: str, model_version: str) -> dict:
    """Return the version's latest drift status for /inference, read at most every few seconds."""
    from drift.selectors import drift_status, latest_drift_event

    key = (model_name, model_version)
    now = time.monotonic()
    with _status_lock:
        cached = _status_cache.get(key)
    if cached and cached[0] > now:
        return cached[1]
    status = drift_status(latest_drift_event(model_name=model_name, model_version=model_version))
    with _status_lock:
        _status_cache[key] = (now + STATUS_TTL_S, status)
    return status


def drift_status_forget() -> None:
    """Drop cached statuses (tests, and after a manual check in this process)."""
    with _status_lock:
        _status_cache.clear()
