"""Training jobs on Celery: enqueue, execute once (even when redelivered), reap the lost.

A job is a row (what the API and the admin show) plus a Celery message (what a worker runs). The
message is acknowledged only after the job ends and is requeued if the worker process dies, so a
job can run more than once: execution claims the row first, and a training that already
registered its version (tagged with the job id) is finished from the registry, not trained again.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone

from core.exceptions import ApplicationError, DependencyUnavailable, error_body
from models_api.batch import score_job_run
from models_api.models import Job
from models_api.serializers import TrainOutput
from models_api.services import TrainingSpec, TrainResult, model_train
from registry import clients
from registry.models import Run
from registry.services import model_alias_set

logger = logging.getLogger(__name__)

JOB_TAG = "mlservice.job_id"
RUN_JOB_TASK = "mlservice.run_job"
WORKER_LOST = "worker_lost"


class JobBusy(Exception):
    """Another worker is running this job right now (its heartbeat is fresh): try again later."""


# --- Enqueue --------------------------------------------------------------------------------------


def job_enqueue_training(*, payload: dict[str, Any], user: Any = None) -> Job:
    """Record a training job and queue it; an uploaded file is kept in the datasets storage first."""
    payload = {**payload, "data": _storable_dataset(payload["data"])}
    return _enqueue(Job(kind=Job.Kind.TRAIN, model_name=payload["model_name"], payload=payload, created_by=user))


def job_enqueue_retrain(*, model_name: str, data_uri: str | None, promote: bool) -> Job:
    """Record a retraining job for one model and queue it."""
    payload = {"model_name": model_name, "data_uri": data_uri, "promote": promote}
    return _enqueue(Job(kind=Job.Kind.RETRAIN, model_name=model_name, payload=payload))


def job_enqueue_scoring(*, payload: dict[str, Any], user: Any = None) -> Job:
    """Record a batch scoring job (payload from models_api.batch.batch_score_prepare) and queue it."""
    return _enqueue(Job(kind=Job.Kind.SCORE, model_name=payload["model_name"], payload=payload, created_by=user))


def _enqueue(job: Job) -> Job:
    job.save()
    try:
        # By name: the task (models_api.tasks) imports this module, not the other way round.
        current_app.send_task(RUN_JOB_TASK, args=[str(job.id)], task_id=str(job.id))
    except Exception as exc:  # kombu raises its own and socket errors when the broker is down
        _job_fail(job, error_body(code="dependency_unavailable", message=f"broker is unavailable: {exc}"))
        raise DependencyUnavailable("broker", str(exc)) from exc
    return job


def _storable_dataset(data: Any) -> Any:
    """Return a dataset value a worker can read: an upload becomes a uri in the datasets storage."""
    if not isinstance(data, UploadedFile):
        return data
    name = storages["datasets"].save(f"uploads/{uuid.uuid4()}.csv", File(data))
    return {"uri": name}


# --- Execute --------------------------------------------------------------------------------------


def job_execute(job_id: str) -> None:
    """Run a job once: claim it, train (or retrain), and record the result or the error on the row."""
    job = _claim(job_id)
    if job is None:
        return
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(job.pk, stop), name=f"job-heartbeat-{job.pk}", daemon=True)
    beat.start()
    try:
        result = _RUNNERS[job.kind](job)
    except ApplicationError as exc:
        _job_fail(job, error_body(code=exc.code, message=exc.message, details=exc.details, run_name=exc.run_name))
    except Exception as exc:
        logger.exception("Job %s failed", job.pk)
        _job_fail(job, error_body(code="internal_error", message=f"{type(exc).__name__}: {exc}"), exc=exc)
    else:
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.SUCCEEDED,
            result=result,
            error=None,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
    finally:
        stop.set()
        beat.join(timeout=10)


def _claim(job_id: str) -> Job | None:
    """Mark the job running for this attempt; None when it is already over, JobBusy when it is running."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status == Job.Status.SUCCEEDED:
            return None
        if job.status == Job.Status.FAILED and (job.error or {}).get("error", {}).get("code") != WORKER_LOST:
            return None
        if job.status == Job.Status.RUNNING and job.heartbeat_at and job.heartbeat_at > now - _stale():
            raise JobBusy(str(job.pk))
        if job.attempts >= settings.MLSERVICE_JOB_MAX_ATTEMPTS:
            _job_fail(job, error_body(code=WORKER_LOST, message=f"gave up after {job.attempts} attempts"))
            return None
        job.status, job.attempts, job.heartbeat_at = Job.Status.RUNNING, job.attempts + 1, now
        job.started_at = job.started_at or now
        job.save(update_fields=["status", "attempts", "heartbeat_at", "started_at", "updated_at"])
    return job


def _heartbeat(job_id: Any, stop: threading.Event) -> None:
    try:
        while not stop.wait(settings.MLSERVICE_JOB_HEARTBEAT_S):
            Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now())
    finally:
        connection.close()


def _train(job: Job) -> dict[str, Any]:
    """Train, or finish from the registry when an earlier attempt of this job already registered."""
    payload = job.payload
    tags = {**payload.get("tags", {}), JOB_TAG: str(job.pk)}
    registered = clients.versions_tagged(name=payload["model_name"], key=JOB_TAG, value=str(job.pk))
    if registered:
        result = _finished_from_registry(payload, registered[0])
    else:
        result = model_train(spec=TrainingSpec(**{**payload, "tags": tags}))
    return dict(TrainOutput(result).data)


def _finished_from_registry(payload: dict[str, Any], version: Any) -> TrainResult:
    """Return the result of a training that registered ``version`` but died before finishing."""
    name, number = payload["model_name"], str(version.version)
    alias = payload.get("alias", "production")
    if alias and alias not in version.aliases:
        model_alias_set(name=name, alias=alias, version=number)
    run = Run.objects.filter(run_name=version.tags.get("run_name", "")).first()
    return TrainResult(
        run_id=version.run_id,
        run_name=version.tags.get("run_name", ""),
        registered_model_name=name,
        model_version=number,
        drift_sample_id=version.tags.get("drift_sample_id"),
        metrics=run.metrics if run else {},
        aliases=[alias] if alias else [],
    )


def _retrain(job: Job) -> dict[str, Any]:
    from models_api.retraining import model_retrain, retrain_targets

    target = retrain_targets(names=[job.model_name], if_drifted=False)[0]
    if target.skip_reason:
        return {"status": "skipped", "model_name": job.model_name, "message": target.skip_reason}
    outcome = model_retrain(
        target=target, data_uri=job.payload.get("data_uri"), promote=job.payload.get("promote", False)
    )
    if outcome.status == "failed":
        raise ApplicationError(outcome.message or "retraining failed", details=asdict(outcome))
    return asdict(outcome)


_RUNNERS: dict[str, Callable[[Job], dict[str, Any]]] = {
    Job.Kind.TRAIN: _train,
    Job.Kind.RETRAIN: _retrain,
    Job.Kind.SCORE: score_job_run,
}


def _job_fail(job: Job, error: dict[str, Any], *, exc: BaseException | None = None) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.FAILED,
        error=error,
        traceback="".join(traceback.format_exception(exc)) if exc else "",
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def _stale() -> timedelta:
    return timedelta(seconds=settings.MLSERVICE_JOB_STALE_S)


# --- Reap -----------------------------------------------------------------------------------------


def jobs_reap() -> int:
    """Fail jobs "running" whose worker stopped beating; a redelivered message may still retry them."""
    error = error_body(code=WORKER_LOST, message="the worker running this job stopped responding")
    return Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=timezone.now() - _stale()).update(
        status=Job.Status.FAILED, error=error, finished_at=timezone.now(), updated_at=timezone.now()
    )
