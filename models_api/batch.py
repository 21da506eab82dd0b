"""Batch scoring: predict every row of a dataset value with one version and store them under one request id.

POST /inference/batch queues a job (kind "score"); a worker runs it through ``score_job_run``, and
``manage.py score`` runs ``batch_score`` in its own process. The data is read, predicted and stored
a chunk at a time (MLSERVICE_BATCH_CHUNK_ROWS), so memory stays bounded however many rows the
query or file has; each chunk is committed on its own (COPY on PostgreSQL) and the job's
``rows_done`` follows. A job that runs again (its worker died) resumes after the rows already
committed under its request id, so every row is stored once.

Like online inference, every committed chunk counts toward the version's drift monitoring, and
each run of a batch is an ``infer_{datetime}`` run: a Run row while it runs, and, once every row
is stored, an MLflow run with its rows, seconds and rows per second (written by the job worker or
the command's process, never a web worker).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import orjson
import pandas as pd
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.background import pipelined
from core.datasets import dataset_check, dataset_chunks, dataset_form
from core.exceptions import ApplicationError
from core.metrics import PREDICTIONS
from drift.monitoring import monitor
from models_api.inference import frame_json, prediction_batch_build
from models_api.models import Job
from models_api.serializers import BatchResultOutput
from predictions.selectors import request_rows_stored
from predictions.services import PredictionBatch, predictions_append
from registry.models import Run
from registry.services import run_create, run_fail, run_record_finished, runs_fail_unfinished
from registry.serving import ServedModel, frame_check, model_version_resolve, predict, served_model_get

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchResult:
    """A finished batch scoring: the version, the request id every row is stored under, rows and time."""

    model_name: str
    model_version: str
    request_id: uuid.UUID
    rows: int
    seconds: float
    run_name: str = ""
    status: str = "success"


def batch_score_prepare(*, model_name: str, model_version: str | None, alias: str | None, data: Any) -> dict[str, Any]:
    """Return a batch job's payload: the version resolved now, the data checked (400/404 before queueing)."""
    version = model_version_resolve(name=model_name, version=model_version, alias=alias)
    served_model_get(name=model_name, version=version)  # an unknown version is a 404 now, not a failed job
    dataset_check(data, field="data")
    return {"model_name": model_name, "model_version": version, "data": data, "request_id": str(uuid.uuid4())}


def batch_score(
    *,
    model_name: str,
    model_version: str,
    data: Any,
    request_id: uuid.UUID,
    progress: Callable[[int], None] | None = None,
    job_id: Any = None,
) -> BatchResult:
    """Predict and store every row of ``data`` under ``request_id``, a chunk at a time; resume after stored rows.

    ``progress`` is called with the number of rows stored so far after each committed chunk. On
    PostgreSQL, chunk N is stored (COPY, commit) in a thread of its own while the next one is read,
    predicted and serialised here: the server parses and indexes the rows while this process
    works, and chunks still commit one at a time, in order. The run is recorded as an
    ``infer_{datetime}`` run (of ``job_id`` when a job runs it).
    """
    started = time.perf_counter()
    model = served_model_get(name=model_name, version=model_version)
    stored = _StoredRows(rows=request_rows_stored(request_id=request_id), progress=progress)
    resumed_after = stored.rows
    run = run_create(kind=Run.Kind.INFER, model_name=model.name, model_version=model.version, job_id=job_id,
                     params=_run_params(model, data=data, request_id=request_id))  # fmt: skip
    try:
        if progress is not None and stored.rows:
            progress(stored.rows)
        _score_rows(model, data, request_id=request_id, stored=stored)
    except Exception as exc:
        run_fail(run=run, exc=exc)
        if isinstance(exc, ApplicationError):
            exc.run_name = run.run_name
        raise
    seconds = time.perf_counter() - started
    _run_record(run, rows=stored.rows, rows_stored=stored.rows - resumed_after, seconds=seconds)
    return BatchResult(
        model_name=model.name,
        model_version=model.version,
        request_id=request_id,
        rows=stored.rows,
        seconds=round(seconds, 3),
        run_name=run.run_name,
    )


def _score_rows(model: ServedModel, data: Any, *, request_id: uuid.UUID, stored: _StoredRows) -> None:
    """Read, predict and store the rows of ``data`` after those ``stored`` already holds."""
    chunks = dataset_chunks(
        data, field="data", chunk_rows=settings.MLSERVICE_BATCH_CHUNK_ROWS, max_rows=settings.MLSERVICE_BATCH_MAX_ROWS
    )
    batches = (
        _chunk_predict(model, chunk, request_id=request_id, first_row_index=first)
        for first, chunk in _chunks_after(chunks, stored.rows)
    )
    if _store_in_parallel():
        pipelined(batches, consume=stored.append, name="batch-store")
    else:
        for batch in batches:
            stored.append(batch)


@dataclass
class _StoredRows:
    """The rows of a batch committed so far; ``append`` stores one more chunk after them."""

    rows: int
    progress: Callable[[int], None] | None

    def append(self, chunk: _Chunk) -> None:
        batch = chunk.batch
        rows = predictions_append(batch=batch, first_row_index=chunk.first_row_index)
        self.rows += rows
        PREDICTIONS.labels(batch.model_name, batch.model_version).inc(rows)
        # Committed rows count toward monitoring as a request's do: a check is enqueued every
        # MLSERVICE_DRIFT_MONITOR_EVERY_N rows, at most one per interval, and it sees these rows.
        monitor.predictions_stored(model_name=batch.model_name, model_version=batch.model_version, rows=rows)
        if self.progress is not None:
            self.progress(self.rows)


@dataclass(frozen=True)
class _Chunk:
    """A chunk's rows predicted and serialised, numbered from ``first_row_index``."""

    batch: PredictionBatch
    first_row_index: int


def _chunks_after(chunks: Iterator[pd.DataFrame], done: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield (index of its first row, chunk) for the rows after the first ``done`` (committed by an earlier attempt)."""
    seen = 0
    for chunk in chunks:
        first, seen = seen, seen + len(chunk)
        if seen <= done:
            continue
        if first < done:
            chunk, first = chunk.iloc[done - first :], done
        yield first, chunk


def _store_in_parallel() -> bool:
    # A thread has a connection of its own: only outside a transaction (whose rows it wouldn't see,
    # and whose rollback wouldn't undo its chunks), and on PostgreSQL, where the overlap is measured.
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _chunk_predict(model: ServedModel, chunk: pd.DataFrame, *, request_id: uuid.UUID, first_row_index: int) -> _Chunk:
    """Predict one chunk (the version's fast path when it has one) and serialise its rows."""
    if model.columns:
        # A query or a file often carries more than the model's inputs (ids, the target): keep its inputs.
        wanted = set(model.columns)
        chunk = chunk.loc[:, [column for column in chunk.columns if column in wanted]]
    frame = frame_check(model, chunk.reset_index(drop=True))
    predicted, probabilities = predict(model, frame, probabilities=model.has_probabilities)
    inputs = frame_json(frame)
    batch = prediction_batch_build(model, request_id, inputs, predicted, None)
    if probabilities is not None:
        batch = replace(batch, probabilities=_probability_texts(probabilities))
    return _Chunk(batch=batch, first_row_index=first_row_index)


def _run_params(model: ServedModel, *, data: Any, request_id: uuid.UUID) -> dict[str, Any]:
    return {
        "model_name": model.name,
        "model_version": model.version,
        "request_id": str(request_id),
        "data": _data_described(data),
        "chunk_rows": settings.MLSERVICE_BATCH_CHUNK_ROWS,
    }


def _data_described(data: Any) -> str:
    """Return what a run says of its data: the file, the source and query, or the inline form (never rows)."""
    form = dataset_form(data, field="data")
    if form == "uri":
        return f"uri:{data['uri']}"
    if form == "query":
        return f"query:{data['query'].get('source')}.{data['query'].get('name')}"
    return form


def _run_record(run: Run, *, rows: int, rows_stored: int, seconds: float) -> None:
    """Log the finished run to MLflow and mark its row succeeded; the rows are stored whatever MLflow answers."""
    metrics = {
        "rows": float(rows),
        "rows_stored": float(rows_stored),
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows_stored / seconds, 1) if seconds > 0 else 0.0,
    }
    tags = {"mlservice.kind": "infer", "mlservice.mode": "batch", "mlservice.request_id": run.params["request_id"]}
    try:
        run_record_finished(run=run, params=run.params, metrics=metrics, tags=tags)
    except Exception as exc:
        logger.warning("Batch %s stored, but its MLflow run failed: %s", run.params["request_id"], exc)
        run_fail(run=run, exc=exc)


def _probability_texts(probabilities: np.ndarray) -> list[str]:
    """Return each row of probabilities as JSON text, every digit kept, serialised in C in one call.

    (json.dumps per row cost 20% of a chunk; pandas' to_json keeps 15 digits, so 1e-20 became 0.0.)
    """
    if not len(probabilities):
        return []
    # "[[0.1,0.9],[0.5,0.5]]": numbers and nulls only, so the rows split at "],[".
    rows = np.ascontiguousarray(probabilities, dtype=np.float64)
    text = orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return [f"[{row}]" for row in text[2:-2].split("],[")]


def score_job_run(job: Job) -> dict[str, Any]:
    """Run a queued batch scoring (models_api.jobs dispatches kind "score" here) and return its result body."""
    payload = job.payload
    if job.attempts > 1:
        # An earlier attempt stopped (its worker died) before recording its run: that run failed.
        runs_fail_unfinished(job_id=job.pk, error="the attempt stopped before it finished; the job ran again")

    def progress(rows: int) -> None:
        Job.objects.filter(pk=job.pk).update(rows_done=rows, updated_at=timezone.now())

    result = batch_score(
        model_name=payload["model_name"],
        model_version=payload["model_version"],
        data=payload["data"],
        request_id=uuid.UUID(payload["request_id"]),
        progress=progress,
        job_id=job.pk,
    )
    progress(result.rows)
    return dict(BatchResultOutput(result).data)
