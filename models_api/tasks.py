"""Celery tasks (thin: the work is in models_api.jobs)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app, shared_task
from celery.exceptions import TimeLimitExceeded
from django.conf import settings

from core.exceptions import Conflict
from models_api.jobs import RUN_JOB_TASK, TIME_LIMIT_TASK, JobBusy, job_execute, job_time_limit_exceeded
from models_api.overview import prediction_days_keep
from predictions.partitions import predictions_maintain

PREDICTION_DAYS_TASK = "mlservice.prediction_days_keep"
PREDICTION_STORE_TASK = "mlservice.predictions_maintain"

logger = logging.getLogger(__name__)


def soft_time_limit(hard: int) -> int:
    """Return the soft limit: a tenth before the hard one (2 to 30 s), time for the job to clean up itself."""
    return max(1, hard - min(30, max(2, hard // 10)))


class JobTask(Task):
    """A job's task: past its hard time limit the worker kills it, and a clean-up task ends the job."""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if isinstance(exc, TimeLimitExceeded) and args:
            # This runs in the worker's main process (the job's process is gone): send the clean-up to a
            # pool process instead of touching the database here, where a connection would be shared
            # with the processes forked later.
            current_app.send_task(TIME_LIMIT_TASK, args=[str(args[0])])


@shared_task(
    bind=True,
    base=JobTask,
    name=RUN_JOB_TASK,
    max_retries=20,
    time_limit=settings.MLSERVICE_TRAIN_TIME_LIMIT_S,
    soft_time_limit=soft_time_limit(settings.MLSERVICE_TRAIN_TIME_LIMIT_S),
)
def run_job(self: Any, job_id: str) -> None:
    """Run one job; if another worker holds it, look again once its heartbeat could have gone stale."""
    try:
        job_execute(job_id)
    except JobBusy as exc:
        raise self.retry(exc=exc, countdown=settings.MLSERVICE_JOB_HEARTBEAT_S * 2) from exc


@shared_task(name=TIME_LIMIT_TASK)
def job_time_limit_cleanup(job_id: str) -> None:
    """End a job whose process was killed at its hard time limit."""
    job_time_limit_exceeded(job_id)


@shared_task(name=PREDICTION_DAYS_TASK, ignore_result=True)
def prediction_days_keep_task() -> int:
    """The schedule: keep the closed days of every model's volume chart (the operator's page)."""
    return prediction_days_keep()


@shared_task(name=PREDICTION_STORE_TASK, ignore_result=True)
def predictions_maintain_task() -> dict[str, int]:
    """The schedule: partitions ahead, stray rows moved, retention applied (manage.py predictions_retention)."""
    try:
        done = predictions_maintain()
    except Conflict as exc:  # the command, or a second beat, is at it: the next hour will do
        logger.info("Prediction store maintenance skipped: %s", exc.message)
        return {}
    counts = {
        "created": len(done.partitions.created),
        "moved_rows": done.partitions.moved_rows,
        "dropped": len(done.retention.dropped),
        "deleted_rows": done.retention.deleted_rows,
    }
    if any(counts.values()):
        logger.info(
            "Prediction store: created %s, dropped %s, %d rows moved out of the default partition, %d rows deleted",
            done.partitions.created or "no partitions",
            [retired.name for retired in done.retention.dropped] or "no partitions",
            done.partitions.moved_rows,
            done.retention.deleted_rows,
        )
    return counts
