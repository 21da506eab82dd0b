"""A batch is seen like online inference: an infer run per batch (rows, seconds, rows per second in MLflow), and its
committed chunks count toward the version's drift monitoring."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from mlflow import MlflowClient

from core.exceptions import InvalidInput
from drift.models import DriftEvent, VersionMonitor
from models_api.batch import batch_score, batch_score_prepare, score_job_run
from models_api.models import Job
from predictions.models import Prediction
from registry.clients import mlflow_setup
from registry.models import Run
from registry.services import run_create
from registry.serving import served_model_get
from tests.drift.data import synthetic_frame
from tests.drift.test_drift_api import MODEL
from tests.drift.test_monitoring import MONITORING, wait_for_events
from tests.models_api.test_batch import scoring_frame, submit, wait_for
from tests.utils import closed_port_url

pytestmark = pytest.mark.django_db(transaction=True)


def scoring_file(datasets_dir: Path, name: str, rows: int) -> dict[str, Any]:
    datasets_dir.mkdir(parents=True, exist_ok=True)
    scoring_frame(rows).to_csv(datasets_dir / name, index=False)
    return {"uri": name}


def score(iris_model: dict[str, Any], data: dict[str, Any], request_id: uuid.UUID | None = None) -> Any:
    return batch_score(model_name="iris-served", model_version=iris_model["model_version"], data=data,
                       request_id=request_id or uuid.uuid4())  # fmt: skip


def mlflow_run(run: Run) -> Any:
    mlflow_setup()
    return MlflowClient().get_run(run.mlflow_run_id)


def test_a_batch_is_an_infer_run_with_its_rows_seconds_and_rate_in_mlflow(iris_model, datasets_dir, settings):
    settings.MLSERVICE_BATCH_CHUNK_ROWS = 1_000
    data = scoring_file(datasets_dir, "to-score.csv", 2_500)

    result = score(iris_model, data)

    run = Run.objects.get(run_name=result.run_name)
    assert result.run_name.startswith("infer_")
    assert (run.kind, run.status) == (Run.Kind.INFER, Run.Status.SUCCEEDED)
    assert (run.registered_model_name, run.model_version) == ("iris-served", iris_model["model_version"])
    assert run.params["request_id"] == str(result.request_id)
    assert run.params["data"] == "uri:to-score.csv"
    logged = mlflow_run(run)
    assert logged.info.run_name == result.run_name
    assert logged.info.status == "FINISHED"
    metrics = logged.data.metrics
    assert (metrics["rows"], metrics["rows_stored"]) == (2_500, 2_500)
    assert metrics["seconds"] > 0
    assert metrics["rows_per_second"] == pytest.approx(2_500 / metrics["seconds"], rel=0.01)
    assert logged.data.tags["mlservice.mode"] == "batch"
    assert logged.data.tags["mlservice.request_id"] == str(result.request_id)
    assert logged.data.params["data"] == "uri:to-score.csv"


def test_a_resumed_batch_records_all_its_rows_and_those_it_stored_itself(iris_model, datasets_dir, settings):
    settings.MLSERVICE_BATCH_CHUNK_ROWS = 1_000
    request_id = uuid.uuid4()
    score(iris_model, scoring_file(datasets_dir, "first-part.csv", 1_200), request_id)

    result = score(iris_model, scoring_file(datasets_dir, "whole.csv", 3_000), request_id)

    metrics = mlflow_run(Run.objects.get(run_name=result.run_name)).data.metrics
    assert (metrics["rows"], metrics["rows_stored"]) == (3_000, 1_800)


def test_a_failed_batch_fails_its_run_and_its_error_names_the_run(iris_model, datasets_dir, settings):
    settings.MLSERVICE_BATCH_CHUNK_ROWS = 1_000
    datasets_dir.mkdir(parents=True, exist_ok=True)
    rows = scoring_frame(2_500).astype({"sepal width (cm)": object})
    rows.loc[1_500, "sepal width (cm)"] = "narrow"
    rows.to_csv(datasets_dir / "bad.csv", index=False)

    with pytest.raises(InvalidInput) as failed:
        score(iris_model, {"uri": "bad.csv"})

    run = Run.objects.get(run_name=failed.value.run_name)
    assert (run.kind, run.status) == (Run.Kind.INFER, Run.Status.FAILED)
    assert "sepal width (cm)" in run.error
    assert not run.mlflow_run_id


def test_a_batch_stored_while_mlflow_is_down_succeeds_and_its_run_says_why_it_failed(iris_model, datasets_dir):
    data = scoring_file(datasets_dir, "during-outage.csv", 300)
    served_model_get(name="iris-served", version=iris_model["model_version"])  # loaded before the outage

    with override_settings(MLFLOW_TRACKING_URI=closed_port_url()):
        result = score(iris_model, data)

    assert Prediction.objects.filter(request_id=result.request_id).count() == 300
    run = Run.objects.get(run_name=result.run_name)
    assert run.status == Run.Status.FAILED
    assert "mlflow" in run.error.lower()


def test_a_batch_job_that_runs_again_fails_the_run_its_stopped_attempt_left(iris_model, datasets_dir):
    payload = batch_score_prepare(model_name="iris-served", model_version=None, alias=None,
                                  data=scoring_file(datasets_dir, "again.csv", 500))  # fmt: skip
    # The first attempt's worker died while it scored: its run was left running.
    job = Job.objects.create(kind=Job.Kind.SCORE, model_name="iris-served", payload=payload, attempts=2,
                             status=Job.Status.RUNNING)  # fmt: skip
    stopped = run_create(kind=Run.Kind.INFER, model_name="iris-served", model_version=payload["model_version"],
                         job_id=job.pk)  # fmt: skip

    result = score_job_run(job)

    stopped.refresh_from_db()
    assert stopped.status == Run.Status.FAILED
    assert "ran again" in stopped.error
    finished = Run.objects.get(run_name=result["run_name"])
    assert (finished.job_id, finished.status) == (job.pk, Run.Status.SUCCEEDED)
    assert result["rows"] == 500


@pytest.mark.usefixtures("runs_jobs")
@override_settings(**MONITORING, MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S=600, MLSERVICE_BATCH_CHUNK_ROWS=200)
def test_a_batch_jobs_run_is_the_jobs_and_its_chunks_start_a_monitoring_check(api_client, synthetic_model):
    version = synthetic_model["model_version"]
    VersionMonitor.objects.filter(registered_model_name=MODEL).delete()
    shifted = synthetic_frame(600, seed=60, shift={"x5": 1.5}).drop(columns=["target"]).to_dict(orient="records")

    job = submit(api_client, model_name=MODEL, model_version=version, data={"dataframe_records": shifted})
    finished = wait_for(job["job_id"])

    assert finished.status == Job.Status.SUCCEEDED, finished.error
    result = finished.result
    run = Run.objects.get(run_name=result["run_name"])
    assert (run.job_id, run.status) == (finished.pk, Run.Status.SUCCEEDED)
    # 200 rows counted, then 400 (past MLSERVICE_DRIFT_MONITOR_EVERY_N: one check enqueued), then 600: the
    # worker checks after the job, on every stored row.
    [event] = wait_for_events(version, 1)
    assert event.trigger == DriftEvent.Trigger.MONITORING
    assert event.subject_rows == 600
    assert event.alerted_columns == ["x5"]
