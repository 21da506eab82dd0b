"""The Celery app: training jobs run on workers (Redis in production, a local broker by default)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlservice.settings")

app = Celery("mlservice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _reap_lost_jobs(**kwargs: object) -> None:
    """A starting worker fails jobs left "running" by a worker that died without a redelivery."""
    from models_api.jobs import jobs_reap

    jobs_reap()
