"""Training jobs on Celery: enqueue, execute once (even when redelivered), reap the lost.

A job is a row (what the API and the admin show) plus a Celery message (what a worker runs). The
message is acknowledged only after the job ends and is requeued if the worker process dies, so a
job can run more than once: execution claims the row first, and a training that already
registered its version (tagged with the job id) is finished from the registry, not trained again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.datasets import dataset_check
from core.exceptions import ApplicationError, DependencyUnavailable, InvalidInput, error_body
from drift.serializers import DriftEventOutput
from drift.services import drift_check_request, drift_samples_discard_unattached
from models_api.batch import score_job_run
from models_api.estimators import estimator_build
from models_api.models import Job
from models_api.serializers import EvaluateOutput, TrainOutput
from registry import clients
from registry.models import Run
from registry.services import model_alias_set, runs_fail_unfinished
from registry.serving import model_version_resolve

if TYPE_CHECKING:
    from models_api.services import TrainResult

logger = logging.getLogger(__name__)

JOB_TAG = "mlservice.job_id"
RUN_JOB_TASK = "mlservice.run_job"
TIME_LIMIT_TASK = "mlservice.job_time_limit_exceeded"
WORKER_LOST = "worker_lost"
TIME_LIMIT_EXCEEDED = "time_limit_exceeded"


class JobBusy(Exception):
    """Another worker is running this job right now (its heartbeat is fresh): try again later."""


# --- Enqueue --------------------------------------------------------------------------------------


def job_enqueue_training(*, payload: dict[str, Any], user: Any = None) -> Job:
    """Record a training job and queue it; an uploaded file is kept in the datasets storage first.

    The estimator and its parameters (names, values, cost caps) are checked here, so that a bad
    request is a 400 before any job exists; the data is read by the worker.
    """
    estimator_build(name=payload["estimator"], params=payload["params"], random_state=payload["random_state"])
    payload = {**payload, "data": _storable_dataset(payload["data"])}
    return _enqueue(Job(kind=Job.Kind.TRAIN, model_name=payload["model_name"], payload=payload, created_by=user))


def job_enqueue_drift_check(*, payload: dict[str, Any], user: Any = None) -> Job:
    """Record a drift check (POST /data-drift) and queue it: nannyml and the statistics run on a worker."""
    payload = {
        **payload,
        "data": _storable_dataset(payload["data"]),
        "baseline": _storable_dataset(payload["baseline"]),
    }
    job = Job(kind=Job.Kind.DRIFT_CHECK, model_name=payload["model_name"], payload=payload, created_by=user)
    return _enqueue(job)


def job_enqueue_evaluation(*, payload: dict[str, Any], user: Any = None) -> Job:
    """Record an evaluation (POST /evaluate) and queue it: the model, the metrics and the eval run are a worker's.

    What needs neither the rows nor the model is checked here, so that it is a 4xx before any job
    exists: the version (404 for an unknown model, version or alias; resolved now, so the job
    evaluates the version the request meant) and the dataset value (400: its form, a query's
    source, name and parameters, a uri's file). The job checks the rows: the target, the columns.
    """
    name = payload["model_name"]
    version = model_version_resolve(name=name, version=payload.get("model_version"), alias=payload.get("alias"))
    if payload.get("model_version"):
        # A registry read, not a model load (an alias or "latest" resolves to a version that exists).
        clients.model_version_get(name=name, version=version)
    data = payload["data"] if payload["source"] == "dataset" else None
    if isinstance(data, dict):
        dataset_check(data, field="data")
    payload = {
        "model_name": name,
        "model_version": version,
        "data": _storable_dataset(data),
        "target": payload["target"],
        "source": payload["source"],
        "since": _datetime_text(payload.get("since")),
        "until": _datetime_text(payload.get("until")),
    }
    return _enqueue(Job(kind=Job.Kind.EVALUATE, model_name=name, payload=payload, created_by=user))


def job_enqueue_retrain(*, model_name: str, data_uri: str | None, promote: bool) -> Job:
    """Record a retraining job for one model and queue it."""
    payload = {"model_name": model_name, "data_uri": data_uri, "promote": promote}
    return _enqueue(Job(kind=Job.Kind.RETRAIN, model_name=model_name, payload=payload))


def job_enqueue_scoring(*, payload: dict[str, Any], user: Any = None) -> Job:
    """Record a batch scoring job (payload from models_api.batch.batch_score_prepare) and queue it."""
    return _enqueue(Job(kind=Job.Kind.SCORE, model_name=payload["model_name"], payload=payload, created_by=user))


def _enqueue(job: Job) -> Job:
    _check_storable(job.payload)
    job.save()
    # After the commit that holds the row, so that a worker never looks for a job it can't see yet
    # (outside a transaction this runs at once, and a broker that is down is a 503 for the caller).
    transaction.on_commit(lambda: _send(job))
    return job


def job_message_send(job_id: str) -> None:
    """Send a committed job's message to the workers (kombu and socket errors when the broker is down)."""
    # By name: the task (models_api.tasks) imports this module, not the other way round.
    # The queue by name, read per call: the one the workers consume (CELERY_QUEUE), never a router's cached default.
    # No time limits in the message: where this process has the task registered, Celery would copy this
    # process's MLSERVICE_TRAIN_TIME_LIMIT_S into it, and a message's limits override the worker's own.
    current_app.send_task(
        RUN_JOB_TASK, args=[job_id], task_id=job_id, queue=settings.CELERY_TASK_DEFAULT_QUEUE,
        time_limit=None, soft_time_limit=None,
    )  # fmt: skip


def _send(job: Job) -> None:
    try:
        job_message_send(str(job.id))
    except Exception as exc:  # kombu raises its own and socket errors when the broker is down
        _job_fail(job, error_body(code="dependency_unavailable", message=f"broker is unavailable: {exc}"), status=503)
        raise DependencyUnavailable("broker", str(exc)) from exc


# --- Wait -----------------------------------------------------------------------------------------


def job_wait(*, job: Job, timeout: float) -> Job:
    """Return the job once it has ended, or as it stands after ``timeout`` seconds.

    Polls the row (a few queries a second at most), outside any transaction so each read sees
    the worker's latest commit; the caller holds no lock while it waits.
    """
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        job.refresh_from_db(fields=["status", "result", "error", "error_status", "attempts", "started_at",
                                    "finished_at", "updated_at"])  # fmt: skip
        remaining = deadline - time.monotonic()
        if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED) or remaining <= 0:
            return job
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.5)


def _check_storable(payload: dict[str, Any]) -> None:
    """Refuse what PostgreSQL can't keep in the job's JSON (400 naming the field): NUL, non-finite numbers."""
    for field, value in payload.items():
        try:
            text = json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False)
        except ValueError as exc:
            reason = "contains a number that isn't finite (past the range of a double, e.g. 1e400)."
            raise InvalidInput.for_field(field, reason) from exc
        # The encoder's C loop finds the candidates; the walk rules out a literal "\\u0000" in the text.
        if "\\u0000" in text and _has_nul(value):
            raise InvalidInput.for_field(field, "contains a NUL character (\\u0000), which can't be stored.")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


def _datetime_text(value: datetime | None) -> str | None:
    """Return a datetime as ISO 8601 text, what a job's JSON payload can hold (read back by ``_datetime_of``)."""
    return value.isoformat() if value is not None else None


def _datetime_of(text: str | None) -> datetime | None:
    return parse_datetime(text) if text else None


def _storable_dataset(data: Any) -> Any:
    """Return a dataset value a worker can read: an upload becomes a uri in the datasets storage."""
    if not isinstance(data, UploadedFile):
        return data
    name = storages["datasets"].save(f"uploads/{uuid.uuid4()}.csv", File(data))
    return {"uri": name}


# --- Execute --------------------------------------------------------------------------------------


def job_execute(job_id: str) -> None:
    """Run a job once: claim it, run its kind's executor, and record the result or the error on the row."""
    job = _claim(job_id)
    if job is None:
        return
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(job.pk, stop), name=f"job-heartbeat-{job.pk}", daemon=True)
    beat.start()
    try:
        result = _EXECUTORS[job.kind](job)
    except SoftTimeLimitExceeded as exc:
        logger.warning("Job %s stopped at its time limit", job.pk)
        job_time_limit_exceeded(str(job.pk), exc=exc)
    except ApplicationError as exc:
        body = error_body(code=exc.code, message=exc.message, details=exc.details, run_name=exc.run_name)
        _job_fail(job, body, status=exc.status_code)
    except Exception as exc:
        if _caused_by_time_limit(exc):
            job_time_limit_exceeded(str(job.pk), exc=exc)
            return
        logger.exception("Job %s failed", job.pk)
        # The exception's text stays on the row (the admin shows it): an API caller gets no internals.
        message = "Internal server error (the job keeps its traceback, in the admin)."
        _job_fail(job, error_body(code="internal_error", message=message), exc=exc, status=500)
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
    # Only a redelivered job can have registered already: a first attempt needs no registry call.
    registered = job.attempts > 1 and clients.versions_tagged(
        name=payload["model_name"], key=JOB_TAG, value=str(job.pk)
    )
    if registered:
        result = _finished_from_registry(payload, registered[0])
    else:
        # Training code loads where it runs, on a job worker: the web workers that import this module
        # to enqueue never load it (tests/mlservice/test_serving_process.py).
        from models_api.services import TrainingSpec, model_train

        result = model_train(spec=TrainingSpec(**{**payload, "tags": tags}), job_id=job.pk)
    return dict(TrainOutput(result).data)


def _drift_check(job: Job) -> dict[str, Any]:
    """Run a drift check and return the body POST /data-drift answers (the event it recorded)."""
    return dict(DriftEventOutput(drift_check_request(**job.payload)).data)


def _evaluate(job: Job) -> dict[str, Any]:
    """Evaluate a version and return the body POST /evaluate answers; the ``eval_`` run carries the job."""
    # Evaluation code loads where it runs, on a job worker: the web workers that import this module
    # to enqueue never load it (tests/mlservice/test_serving_process.py).
    from models_api.evaluation import model_evaluate

    payload = job.payload
    result = model_evaluate(
        **{**payload, "since": _datetime_of(payload["since"]), "until": _datetime_of(payload["until"])},
        job_id=job.pk,
    )
    return dict(EvaluateOutput(result).data)


def _finished_from_registry(payload: dict[str, Any], version: Any) -> TrainResult:
    """Return the result of a training that registered ``version`` but died before finishing."""
    from models_api.services import TrainResult

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
    # Idempotent like _train: the candidate is tagged with the job id (models_api.retraining).
    from models_api.retraining import retrain_job_run

    return retrain_job_run(job=job, job_tag=JOB_TAG)


_EXECUTORS: dict[str, Callable[[Job], dict[str, Any]]] = {
    Job.Kind.TRAIN: _train,
    Job.Kind.RETRAIN: _retrain,
    Job.Kind.DRIFT_CHECK: _drift_check,
    Job.Kind.SCORE: score_job_run,
    Job.Kind.EVALUATE: _evaluate,
}


def _job_fail(job: Job, error: dict[str, Any], *, exc: BaseException | None = None, status: int = 500) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.FAILED,
        error=error,
        error_status=status,
        traceback="".join(traceback.format_exception(exc)) if exc else "",
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


# --- Time limit -----------------------------------------------------------------------------------


def job_time_limit_exceeded(job_id: str, *, exc: BaseException | None = None) -> None:
    """End a job stopped at its time limit: failed, its runs failed, nothing it registered left behind.

    Called in the job's own process at the soft limit, and as a task of its own after a hard kill
    (the killed process can't clean up after itself). Never retried: the same work would hit the
    same limit.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.status == Job.Status.SUCCEEDED:
        return
    limit = settings.MLSERVICE_TRAIN_TIME_LIMIT_S
    message = f"the job was stopped at its time limit of {limit} s (MLSERVICE_TRAIN_TIME_LIMIT_S)."
    runs = list(Run.objects.filter(job_id=job.pk).values_list("run_name", flat=True))
    # The job is marked failed last: whoever sees it failed sees everything it left cleaned up.
    runs_fail_unfinished(job_id=job.pk, error=f"{TIME_LIMIT_EXCEEDED}: {message}")
    if job.kind == Job.Kind.TRAIN:
        from models_api.services import model_versions_unregister

        removed = model_versions_unregister(name=job.model_name, tag=JOB_TAG, value=str(job.pk))
        if removed:
            logger.warning("Job %s: removed version(s) %s it registered before its time limit", job.pk, removed)
    drift_samples_discard_unattached(job_id=job.pk)
    _job_fail(
        job,
        error_body(code=TIME_LIMIT_EXCEEDED, message=message, details={"time_limit_s": limit},
                   run_name=runs[-1] if runs else None),
        exc=exc,
        status=400,
    )  # fmt: skip


def _caused_by_time_limit(exc: BaseException) -> bool:
    """Return whether the soft time limit is behind ``exc`` (MLflow and pandas wrap what they catch)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SoftTimeLimitExceeded):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _stale() -> timedelta:
    return timedelta(seconds=settings.MLSERVICE_JOB_STALE_S)


# --- Reap -----------------------------------------------------------------------------------------


def jobs_reap() -> int:
    """Fail jobs "running" whose worker stopped beating; a redelivered message may still retry them."""
    error = error_body(code=WORKER_LOST, message="the worker running this job stopped responding")
    return Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=timezone.now() - _stale()).update(
        status=Job.Status.FAILED, error=error, finished_at=timezone.now(), updated_at=timezone.now()
    )
