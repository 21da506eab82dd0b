"""Drift monitoring from inference, off the request path.

Each process counts the predictions it stores per model version; after every
MLSERVICE_DRIFT_MONITOR_EVERY_N of them (but not twice within MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S,
which keeps checks off a busy version's CPU), or MLSERVICE_DRIFT_MONITOR_EVERY_S seconds with new ones,
a daemon thread checks the version's last MLSERVICE_DRIFT_MONITOR_WINDOW stored inputs against
its drift sample and records a DriftEvent with trigger "monitoring". The fitted reference is cached
per version (drift.clients.calculator_cache), so a check only computes the subject's side.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from core.background import ProcessThread

logger = logging.getLogger(__name__)


@dataclass
class _VersionCounter:
    since_check: int = 0
    last_check: float = field(default_factory=time.monotonic)
    queued: bool = False


class DriftMonitor:
    """Per-process prediction counters and the thread that runs due checks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, str], _VersionCounter] = {}
        self._due: list[tuple[str, str]] = []
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = ProcessThread(self._loop, name="drift-monitor")

    def predictions_stored(self, *, model_name: str, model_version: str, rows: int) -> None:
        """Count stored rows; queue a check when the version is due."""
        if not settings.MLSERVICE_DRIFT_MONITOR_ENABLED:
            return
        key = (model_name, model_version)
        with self._lock:
            counter = self._counters.setdefault(key, _VersionCounter())
            counter.since_check += rows
            rested = time.monotonic() - counter.last_check >= settings.MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S
            due = counter.since_check >= settings.MLSERVICE_DRIFT_MONITOR_EVERY_N and rested
            if due:
                self._queue(key, counter)
        self._thread.ensure()
        if due:
            self._wake.set()

    def forget(self) -> None:
        """Drop every counter (tests; a queued check still runs)."""
        with self._lock:
            self._counters.clear()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no check is queued or running (for tests and shutdown)."""
        return self._idle.wait(timeout)

    def _queue(self, key: tuple[str, str], counter: _VersionCounter) -> None:
        if not counter.queued:
            counter.queued = True
            counter.since_check = 0
            counter.last_check = time.monotonic()
            self._due.append(key)
            self._idle.clear()

    def _queue_time_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            for key, counter in self._counters.items():
                if counter.since_check and now - counter.last_check >= settings.MLSERVICE_DRIFT_MONITOR_EVERY_S:
                    self._queue(key, counter)

    def _loop(self) -> None:
        while True:
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            self._queue_time_due()
            while True:
                with self._lock:
                    if not self._due:
                        self._idle.set()
                        break
                    key = self._due.pop(0)
                try:
                    self._check(*key)
                finally:
                    with self._lock:
                        if key in self._counters:
                            self._counters[key].queued = False
                    connection.close()

    def _check(self, model_name: str, model_version: str) -> None:
        from drift.models import DriftEvent
        from drift.services import drift_check_version

        try:
            event = drift_check_version(
                model_name=model_name,
                model_version=model_version,
                window=settings.MLSERVICE_DRIFT_MONITOR_WINDOW,
                trigger=DriftEvent.Trigger.MONITORING,
            )
            logger.info("Drift monitoring: %s", event)
        except Exception:
            logger.exception("Drift monitoring check of %s v%s failed", model_name, model_version)


monitor = DriftMonitor()


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
