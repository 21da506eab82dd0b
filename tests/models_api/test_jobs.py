"""Training jobs on a real Celery worker with the machine's real Redis as the broker."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from django.conf import settings
from mlflow import MlflowClient

from models_api.jobs import RUN_JOB_TASK
from models_api.models import Job
from tests.models_api.test_train_api import train_body
from tests.workers import celery_worker_start, process_stop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def queue() -> str:
    """The test session's own queue on the machine's Redis (settings_test)."""
    return settings.CELERY_TASK_DEFAULT_QUEUE


def _start_worker(queue: str, log_path: Path, **extra: str) -> Iterator[subprocess.Popen]:
    process = celery_worker_start(log_path, queue=queue, **extra)
    yield process
    process_stop(process)


@pytest.fixture
def worker(queue: str, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A real `celery worker` (prefork, 2 processes) consuming the test queue."""
    yield from _start_worker(queue, tmp_path / "worker.log")


TIME_LIMIT_S = 20


@pytest.fixture
def limited_worker(queue: str, tmp_path: Path, settings: Any) -> Iterator[subprocess.Popen]:
    """A real `celery worker` whose jobs stop after TIME_LIMIT_S seconds (the soft limit 2 s earlier).

    On a queue of its own, which this test's jobs are sent to: no worker without the limit (another
    test's, not yet gone) can take them. The sending process has the job's task registered, as in the
    full suite and in a deployment that imports it: Celery then copies the sender's (longer) limits
    into the message unless the sender says otherwise, and those override the worker's.
    """
    import models_api.tasks  # noqa: F401
    from mlservice.celery import app

    assert RUN_JOB_TASK in app.tasks  # (finalizes the app: only then is the task in its registry)

    limited = f"{queue}-limited-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = limited
    yield from _start_worker(limited, tmp_path / "worker.log", MLSERVICE_TRAIN_TIME_LIMIT_S=str(TIME_LIMIT_S))


def wait_for(job_ids: list[str], *, timeout: float = 180) -> list[Job]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = list(Job.objects.filter(pk__in=job_ids))
        if len(jobs) == len(job_ids) and all(job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED) for job in jobs):
            return jobs
        time.sleep(0.5)
    raise AssertionError(f"jobs not finished: {[(j.pk, j.status) for j in Job.objects.filter(pk__in=job_ids)]}")


def submit(client: Any, **overrides: Any) -> dict:
    response = client.post("/train", {**train_body(**overrides), "async": True}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == f"/jobs/{body['job_id']}"
    assert body["status"] == "queued"
    return body


def test_two_async_trainings_of_one_model_give_two_versions(api_client, worker):
    first, second = (
        submit(api_client, model_name="async-pair"),
        submit(api_client, model_name="async-pair", random_state=1),
    )

    jobs = wait_for([first["job_id"], second["job_id"]])

    assert [job.status for job in jobs] == [Job.Status.SUCCEEDED] * 2, [job.error for job in jobs]
    versions = {job.result["model_version"] for job in jobs}
    assert versions == {"1", "2"}
    assert len(MlflowClient().search_model_versions("name='async-pair'")) == 2
    body = api_client.get(f"/jobs/{first['job_id']}").json()
    assert body["status"] == "succeeded"
    assert body["result"]["registered_model_name"] == "async-pair"
    assert body["started_at"]
    assert body["finished_at"]


def test_a_failing_job_ends_failed_with_its_error(api_client, worker):
    job = submit(api_client, model_name="async-fail", target="no-such-column")

    (finished,) = wait_for([job["job_id"]])

    assert finished.status == Job.Status.FAILED
    body = api_client.get(f"/jobs/{job['job_id']}").json()
    assert body["error"]["status"] == "failed"
    assert body["error"]["error"]["code"] == "invalid_input"
    assert "target" in body["error"]["error"]["message"]
    assert body["result"] is None


def test_twenty_queued_jobs_all_finish(api_client, worker):
    ids = [submit(api_client, model_name=f"async-many-{index % 4}", alias=None, params={"n_estimators": 1})["job_id"]
           for index in range(20)]  # fmt: skip

    jobs = wait_for(ids, timeout=300)

    assert {job.status for job in jobs} == {Job.Status.SUCCEEDED}
    listed = api_client.get("/jobs/", {"status": "succeeded", "page_size": 100}).json()["results"]
    assert set(ids) <= {row["job_id"] for row in listed}


def test_killing_the_worker_process_mid_job_retries_the_job(api_client, worker, datasets_dir):
    # Big enough to still be training when the worker's process is killed.
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60_000, 10)), columns=[f"x{i}" for i in range(10)])
    frame["target"] = (frame["x0"] > 0).astype(int)
    datasets_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(datasets_dir / "slow.parquet")
    job = submit(api_client, model_name="async-killed", data={"uri": "slow.parquet"}, params={"n_estimators": 60})

    child = _running_child(worker, job["job_id"])
    child.kill()
    (finished,) = wait_for([job["job_id"]], timeout=300)

    assert finished.status == Job.Status.SUCCEEDED, finished.error
    assert finished.attempts == 2
    assert len(MlflowClient().search_model_versions("name='async-killed'")) == 1


def _running_child(worker: subprocess.Popen, job_id: str) -> psutil.Process:
    """Wait until the job runs, and return the worker child process running it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).exists():
            time.sleep(1.5)
            busy = [child for child in psutil.Process(worker.pid).children() if child.cpu_percent(interval=0.3) > 20]
            if busy:
                return busy[0]
        time.sleep(0.2)
    raise AssertionError("the job never started running")


def test_train_command_async_queues_a_job_the_worker_runs(worker, tmp_path):
    import json
    from io import StringIO

    from django.core.management import call_command

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"model_name": "async-cli", "data": {"builtin": "iris"}, "params": {"n_estimators": 2}}))
    out = StringIO()

    call_command("train", "--spec", str(spec), "--async", stdout=out)

    queued = json.loads(out.getvalue())
    assert queued["status"] == "queued"
    (finished,) = wait_for([queued["job_id"]])
    assert finished.status == Job.Status.SUCCEEDED
    assert finished.result["registered_model_name"] == "async-cli"


def test_retrain_async_runs_each_model_as_a_job_and_waits(worker):
    from io import StringIO

    from django.core.management import call_command

    from models_api.services import TrainingSpec, model_train

    for name in ("async-retrain-a", "async-retrain-b"):
        model_train(spec=TrainingSpec(model_name=name, data={"builtin": "iris"}, params={"n_estimators": 2}))
    out = StringIO()

    call_command(
        "retrain", "--model", "async-retrain-a", "--model", "async-retrain-b", "--async", stdout=out, stderr=StringIO()
    )

    table = out.getvalue()
    assert table.count(" trained ") == 2, table
    assert Job.objects.filter(kind=Job.Kind.RETRAIN, status=Job.Status.SUCCEEDED).count() == 2
    for name in ("async-retrain-a", "async-retrain-b"):
        assert len(MlflowClient().search_model_versions(f"name='{name}'")) == 2


def test_broker_down_is_503_and_the_job_is_recorded_failed(api_client, queue, settings):
    from mlservice.celery import app as celery_app
    from tests.utils import closed_port_url

    saved = celery_app.conf.broker_url
    celery_app.conf.broker_url = closed_port_url().replace("http://", "redis://")
    celery_app.conf.broker_connection_max_retries = 0
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    try:
        response = api_client.post("/train", {**train_body(model_name="no-broker"), "async": True}, format="json")
    finally:
        celery_app.conf.broker_url = saved
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    body = response.json()
    assert response.status_code == 503, body
    assert body["error"]["details"]["dependency"] == "broker"
    job = Job.objects.get(model_name="no-broker")
    assert job.status == Job.Status.FAILED
    assert job.error["error"]["code"] == "dependency_unavailable"


def _assert_stopped_at_the_time_limit(client: Any, job_id: str, model_name: str) -> None:
    """The job failed with time_limit_exceeded and left no version, no open run and no drift sample."""
    from drift.models import DriftSample
    from registry.models import Run

    body = client.get(f"/jobs/{job_id}").json()
    assert body["status"] == "failed"
    assert body["error"]["error"]["code"] == "time_limit_exceeded"
    assert str(TIME_LIMIT_S) in body["error"]["error"]["message"]
    run = Run.objects.get(job_id=job_id)
    assert run.status == Run.Status.FAILED
    assert "time limit" in run.error
    assert MlflowClient().get_run(run.mlflow_run_id).info.status == "FAILED"
    assert MlflowClient().search_model_versions(f"name='{model_name}'") == []
    assert not DriftSample.objects.filter(registered_model_name=model_name).exists()


def test_a_job_past_its_soft_time_limit_ends_failed_and_leaves_nothing_behind(
    api_client, limited_worker, datasets_dir, tmp_path
):
    # A thousand deep trees on 200,000 rows: minutes of work on any machine, stopped at TIME_LIMIT_S; Python
    # runs between trees, so the soft limit's exception lands in the training itself.
    import pandas as pd
    from sklearn.datasets import make_classification

    features, target = make_classification(n_samples=200_000, n_features=20, random_state=0)
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(20)]).assign(target=target)
    datasets_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(datasets_dir / "many-trees.parquet")
    job = submit(api_client, model_name="slow-soft", data={"uri": "many-trees.parquet"},
                 params={"n_estimators": 1000}, validation_fraction=0.0)  # fmt: skip

    (finished,) = wait_for([job["job_id"]], timeout=240)

    log = (tmp_path / "worker.log").read_text()
    assert finished.attempts == 1, log[-5000:]
    _assert_stopped_at_the_time_limit(api_client, job["job_id"], "slow-soft")
    assert "Soft time limit" in log


def test_a_job_killed_at_its_hard_time_limit_is_cleaned_up_by_the_worker(
    api_client, limited_worker, datasets_dir, tmp_path
):
    # One unbounded regression tree on 2,000,000 noisy rows: a single call into compiled code that starts
    # well before the soft limit and outlasts the 2 s to the hard one, so the worker has to kill the process.
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(2_000_000, 12)), columns=[f"x{i}" for i in range(12)])
    frame["target"] = rng.normal(size=len(frame))
    datasets_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(datasets_dir / "huge-tree.parquet")
    job = submit(api_client, model_name="slow-hard", data={"uri": "huge-tree.parquet"},
                 estimator="DecisionTreeRegressor", params={}, validation_fraction=0.0)  # fmt: skip

    (finished,) = wait_for([job["job_id"]], timeout=240)

    assert finished.attempts == 1
    _assert_stopped_at_the_time_limit(api_client, job["job_id"], "slow-hard")
    assert "Hard time limit" in (tmp_path / "worker.log").read_text(), (tmp_path / "worker.log").read_text()[-5000:]
