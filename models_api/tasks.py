"""Celery tasks (thin: the work is in models_api.jobs)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from models_api.jobs import RUN_JOB_TASK, JobBusy, job_execute


@shared_task(bind=True, name=RUN_JOB_TASK, max_retries=20)
def run_job(self: Any, job_id: str) -> None:
    """Run one job; if another worker holds it, look again once its heartbeat could have gone stale."""
    try:
        job_execute(job_id)
    except JobBusy as exc:
        raise self.retry(exc=exc, countdown=settings.MLSERVICE_JOB_HEARTBEAT_S * 2) from exc
