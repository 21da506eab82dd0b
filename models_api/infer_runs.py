"""Inference runs, written off the request path.

One MLflow run per request would flood the tracking store at serving rates, so an
``infer_{datetime}`` run covers a window of requests to one model version (MLSERVICE_INFER_RUN_WINDOW_S,
0 = one run per request), named after the window's start, with requests, rows, errors and latency
percentiles as metrics, and mirrored as a Run row. A daemon thread per process writes closed
windows in batches, retries while MLflow is down, and flushes what is left at exit.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from django.conf import settings
from django.db import connection

from core.background import ProcessThread
from core.naming import run_name_make

logger = logging.getLogger(__name__)


@dataclass
class InferenceWindow:
    """The requests one process served for one model version during one window."""

    model_name: str
    model_version: str
    started_at: datetime
    run_name: str
    closes_at: float
    requests: int = 0
    rows: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    last_request_id: str = ""
    ended_at: datetime | None = None
    mlflow_run_id: str = ""
    attempts: int = 0

    def metrics(self) -> dict[str, float]:
        latencies = np.asarray(self.latencies_ms or [0.0])
        return {
            "requests": float(self.requests),
            "rows": float(self.rows),
            "errors": float(self.errors),
            "latency_p50_ms": float(np.percentile(latencies, 50)),
            "latency_p95_ms": float(np.percentile(latencies, 95)),
            "latency_p99_ms": float(np.percentile(latencies, 99)),
            "latency_max_ms": float(latencies.max()),
        }


class InferRunRecorder:
    """Per-process windows of inference requests and the thread that writes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str], InferenceWindow] = {}
        self._pending: deque[InferenceWindow] = deque()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = ProcessThread(self._loop, name="infer-run-writer")

    def window_for(self, *, model_name: str, model_version: str) -> InferenceWindow:
        """Return the open window of this version, opening one (and so naming its run) if needed."""
        now = time.monotonic()
        key = (model_name, model_version)
        with self._lock:
            window = self._open.get(key)
            if window is None or window.closes_at <= now or window.ended_at is not None:
                started_at = datetime.now(UTC)
                window = InferenceWindow(
                    model_name=model_name,
                    model_version=model_version,
                    started_at=started_at,
                    run_name=run_name_make("infer", started_at),
                    closes_at=now + settings.MLSERVICE_INFER_RUN_WINDOW_S,
                )
                if settings.MLSERVICE_INFER_RUN_WINDOW_S > 0:
                    self._open[key] = window
            return window

    def record(self, window: InferenceWindow, *, rows: int, latency_ms: float, failed: bool, request_id: str) -> None:
        """Count one request in ``window``; a per-request window is queued for writing at once."""
        with self._lock:
            window.requests += 1
            window.rows += 0 if failed else rows
            window.errors += int(failed)
            window.latencies_ms.append(latency_ms)
            window.last_request_id = request_id
            if settings.MLSERVICE_INFER_RUN_WINDOW_S <= 0:
                window.ended_at = datetime.now(UTC)
                self._pending.append(window)
                self._idle.clear()
        self._thread.ensure()
        if settings.MLSERVICE_INFER_RUN_WINDOW_S <= 0:
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Close every open window and wait until all are written (or ``timeout``); return success."""
        self._close_windows(force=True)
        self._thread.ensure()
        self._wake.set()
        return self._idle.wait(timeout)

    def _close_windows(self, *, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            for key, window in list(self._open.items()):
                if force or window.closes_at <= now:
                    del self._open[key]
                    window.ended_at = datetime.now(UTC)
                    if window.requests:
                        self._pending.append(window)
                        self._idle.clear()

    def _loop(self) -> None:
        backoff = 1.0
        while True:
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            self._close_windows()
            try:
                written = self._write_pending()
            finally:
                # Hold no database connection between batches (and none when the test DB is dropped).
                connection.close()
            if written:
                backoff = 1.0
            else:
                time.sleep(backoff)
                backoff = min(backoff * 2, 60.0)

    def _write_pending(self) -> bool:
        """Write every pending window; return False (keeping the rest) when a write fails."""
        while True:
            with self._lock:
                if not self._pending:
                    if not self._open:
                        self._idle.set()
                    return True
                window = self._pending[0]
            try:
                window_write(window)
            except Exception:
                window.attempts += 1
                logger.warning(
                    "Could not write inference run %s (attempt %d); will retry",
                    window.run_name,
                    window.attempts,
                    exc_info=True,
                )
                self._drop_overflow()
                return False
            with self._lock:
                self._pending.popleft()

    def _drop_overflow(self) -> None:
        with self._lock:
            while len(self._pending) > settings.MLSERVICE_INFER_RUN_MAX_PENDING:
                dropped = self._pending.popleft()
                logger.error("Dropping inference run %s: MLflow has been down too long", dropped.run_name)


def window_write(window: InferenceWindow) -> None:
    """Log ``window`` as a finished MLflow run and mirror it as a Run row (idempotent on retry)."""
    from registry.models import Run
    from registry.services import run_create, run_record_finished

    run = Run.objects.filter(run_name=window.run_name).first() or run_create(
        kind=Run.Kind.INFER,
        model_name=window.model_name,
        model_version=window.model_version,
        params={"requests": window.requests},
        started_at=window.started_at,
        run_name=window.run_name,
    )
    # The window keeps the MLflow id across retries, so a failed row update never logs the run twice.
    run.mlflow_run_id = run.mlflow_run_id or window.mlflow_run_id
    try:
        run_record_finished(
            run=run,
            ended_at=window.ended_at or datetime.now(UTC),
            params={"model_name": window.model_name, "model_version": window.model_version},
            metrics=window.metrics(),
            tags={"mlservice.kind": "infer", "mlservice.last_request_id": window.last_request_id},
        )
    finally:
        window.mlflow_run_id = run.mlflow_run_id


recorder = InferRunRecorder()
atexit.register(recorder.flush, 10.0)
