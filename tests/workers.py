"""Real Celery worker processes for tests, on the test database, the session's MLflow store and its queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

from registry.clients import mlflow_setup


def worker_environment(queue: str, **extra: str) -> dict[str, str]:
    """Return the environment of a worker process: the test session's database, MLflow store, broker and ``queue``."""
    database = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlservice.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "MLFLOW_TRACKING_URI": settings.MLFLOW_TRACKING_URI,
        "MLSERVICE_VAR_DIR": str(settings.VAR_DIR),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": queue,
        "MLSERVICE_JOB_VISIBILITY_TIMEOUT_S": "30",
        "MLSERVICE_JOB_HEARTBEAT_S": "1",
        "MLSERVICE_JOB_STALE_S": "4",
        "MLSERVICE_DRIFT_MONITOR_ENABLED": "false",
        **extra,
    }


def celery_worker_start(
    log_path: Path, *, queue: str | None = None, concurrency: int = 2, **extra: str
) -> subprocess.Popen:
    """Start a real `celery worker` (prefork) on ``queue`` (default: the session's), logging to ``log_path``."""
    queue = queue or settings.CELERY_TASK_DEFAULT_QUEUE
    # Create the session's MLflow store before two worker processes race to create its tables.
    mlflow_setup()
    with log_path.open("w") as log:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "-A", "mlservice", "worker", "--loglevel", "INFO",
             "--concurrency", str(concurrency), "--pool", "prefork", "--queues", queue, "--without-heartbeat",
             "--without-gossip", "--without-mingle"],
            cwd=settings.BASE_DIR, env=worker_environment(queue, **extra), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def process_stop(process: subprocess.Popen) -> None:
    """Stop a process group started by a test: SIGTERM, then SIGKILL after 30 s."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    connection.close()
