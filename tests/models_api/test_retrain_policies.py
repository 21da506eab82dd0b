"""Retraining policies acting on drift checks, with a real Celery worker, Redis, PostgreSQL, MLflow and nannyml.

A check of a production version that meets its model's policy enqueues one retrain job; the worker
trains a candidate on the policy's data, scores both versions on one holdout and promotes only a
candidate at least as good.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.db import connection
from django.utils import timezone
from mlflow import MlflowClient

from drift.models import DriftEvent
from models_api.jobs import JOB_TAG, RUN_JOB_TASK, WORKER_LOST
from models_api.models import Job, RetrainPolicy
from models_api.policies import retrain_policy_apply
from models_api.services import TrainingSpec, model_train
from tests.models_api.test_jobs import wait_for
from tests.models_api.test_retrain_command import concept, put
from tests.workers import celery_worker_start, process_stop

pytestmark = pytest.mark.django_db(transaction=True)

DECISION = "mlservice.retrain.decision"
REASON = "mlservice.retrain.reason"


def start_worker(log_path: Path, **environment: str) -> subprocess.Popen:
    """Start a real `celery worker` (prefork, 2 processes) on the session's queue."""
    return celery_worker_start(log_path, **environment)


def stop_worker(process: subprocess.Popen) -> None:
    process_stop(process)


@pytest.fixture(scope="module")
def retrain_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen]:
    process = start_worker(tmp_path_factory.mktemp("retrain-worker") / "worker.log")
    yield process
    stop_worker(process)


# --- Helpers --------------------------------------------------------------------------------------


def production(name: str, datasets_dir: Path) -> str:
    """Train version 1 of ``name`` (alias production) on 3,000 rows of the "sum" concept, kept as a uri."""
    uri = put(datasets_dir, f"{name}-original.csv", concept(3000, seed=1, rule="sum"))
    spec = TrainingSpec(model_name=name, data={"uri": uri}, params={"n_estimators": 5, "max_depth": 4})
    return model_train(spec=spec).model_version


def production_version(name: str) -> str:
    return str(MlflowClient().get_model_version_by_alias(name, "production").version)


def versions(name: str) -> list[Any]:
    return sorted(MlflowClient().search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))


def shifted(rows: int = 300, *, seed: int = 7) -> dict[str, Any]:
    """Rows of the same concept with x0 moved by 1.5 standard deviations: a drift verdict on x0."""
    frame = concept(rows, seed=seed, rule="sum")
    frame["x0"] += 1.5
    return {"dataframe_split": frame.to_dict(orient="split", index=False)}


def check(client: Any, name: str, *, version: str | None = None, data: dict[str, Any] | None = None) -> dict:
    body = {"model_name": name, "data": data or shifted()}
    if version:
        body["model_version"] = version
    response = client.post("/data-drift", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def wait_until(found: Any, *, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := found():
            return value
        time.sleep(0.5)
    raise AssertionError("timed out")


def set_policy(client: Any, name: str, **policy: Any) -> dict:
    response = client.put(f"/models/{name}/policy", policy, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


# --- With a worker --------------------------------------------------------------------------------


def test_a_drifted_check_enqueues_one_retrain_that_promotes_a_better_candidate(
    api_client, retrain_worker, datasets_dir
):
    original = production("policy-shift", datasets_dir)
    new_data = put(datasets_dir, "policy-shift-new.csv", concept(2000, seed=2, rule="diff"))
    set_policy(api_client, "policy-shift", min_drifted_share=0.2, data={"uri": new_data}, cooldown_s=3600)

    checked = check(api_client, "policy-shift")

    assert checked["drift_detected"] is True
    assert checked["retrain_job_id"] is not None
    (job,) = wait_for([checked["retrain_job_id"]])
    assert job.status == Job.Status.SUCCEEDED, job.error
    shown = api_client.get(f"/jobs/{job.pk}").json()
    assert shown["kind"] == "retrain"
    assert shown["drift_event_id"] == checked["event_id"]
    result = shown["result"]
    assert result["decision"] == "promoted"
    assert result["reason"].startswith("candidate is at least as good")
    assert result["metric"] == "accuracy"
    assert result["candidate_score"] >= result["production_score"]
    assert result["production_version"] == original
    assert "drift detected" in result["trigger"]
    assert production_version("policy-shift") == result["candidate_version"] != original
    candidate = MlflowClient().get_model_version("policy-shift", result["candidate_version"])
    assert candidate.tags[DECISION] == "promoted"
    assert candidate.tags[REASON] == result["reason"]
    assert candidate.tags[JOB_TAG] == str(job.pk)
    assert api_client.get(f"/drift-events/{checked['event_id']}").json()["retrain_job_id"] == str(job.pk)
    assert RetrainPolicy.objects.get(model_name="policy-shift").last_job_id == job.pk

    # A second drifted check (of the new production) within the cool-down enqueues nothing.
    again = check(api_client, "policy-shift", version=result["candidate_version"])

    assert again["drift_detected"] is True
    assert again["retrain_job_id"] is None
    assert Job.objects.filter(kind=Job.Kind.RETRAIN, model_name="policy-shift").count() == 1
    assert len(versions("policy-shift")) == 2


def test_a_worse_candidate_is_recorded_but_production_stays(api_client, retrain_worker, datasets_dir):
    original = production("policy-worse", datasets_dir)
    noisy = put(datasets_dir, "policy-worse-noisy.csv", concept(120, seed=3, rule="sum", noise=0.45))
    set_policy(api_client, "policy-worse", data={"uri": noisy})

    (job,) = wait_for([check(api_client, "policy-worse")["retrain_job_id"]])

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["decision"] == "kept"
    assert job.result["reason"].startswith("candidate is worse")
    assert job.result["candidate_score"] < job.result["production_score"]
    assert production_version("policy-worse") == original
    assert MlflowClient().get_model_version("policy-worse", job.result["candidate_version"]).tags[DECISION] == "kept"


def test_a_policy_that_does_not_promote_leaves_production_alone(api_client, retrain_worker, datasets_dir):
    original = production("policy-no-promote", datasets_dir)
    new_data = put(datasets_dir, "policy-no-promote-new.csv", concept(2000, seed=2, rule="diff"))
    set_policy(api_client, "policy-no-promote", data={"uri": new_data}, promote=False)

    (job,) = wait_for([check(api_client, "policy-no-promote")["retrain_job_id"]])

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["decision"] == "trained"
    assert "does not promote" in job.result["reason"]
    assert production_version("policy-no-promote") == original
    assert [str(v.version) for v in versions("policy-no-promote")] == ["1", "2"]


def test_a_failing_retrain_promotes_nothing_and_keeps_its_error(api_client, retrain_worker, datasets_dir):
    original = production("policy-fail", datasets_dir)
    weekly = put(datasets_dir, "policy-fail-weekly.csv", concept(500, seed=5, rule="diff"))
    set_policy(api_client, "policy-fail", data={"uri": weekly})
    (datasets_dir / weekly).unlink()  # gone before the retrain reads it

    (job,) = wait_for([check(api_client, "policy-fail")["retrain_job_id"]])

    assert job.status == Job.Status.FAILED
    shown = api_client.get(f"/jobs/{job.pk}").json()
    assert shown["result"] is None
    assert shown["error"]["error"]["code"] == "invalid_input"
    assert "policy-fail-weekly.csv" in shown["error"]["error"]["message"]
    assert shown["error"]["error"]["details"]["decision"] == "failed"
    assert production_version("policy-fail") == original
    assert len(versions("policy-fail")) == 1


def test_a_redelivered_retrain_creates_no_second_candidate(api_client, retrain_worker, datasets_dir):
    original = production("policy-redelivered", datasets_dir)
    new_data = put(datasets_dir, "policy-redelivered-new.csv", concept(2000, seed=2, rule="diff"))
    set_policy(api_client, "policy-redelivered", data={"uri": new_data})
    (job,) = wait_for([check(api_client, "policy-redelivered")["retrain_job_id"]])
    assert job.result["decision"] == "promoted", job.error
    candidate = job.result["candidate_version"]
    # The worker died after registering the candidate, before deciding: no decision tags, production
    # not moved, and the reaper marked the job lost. Then the broker delivers its message again.
    client = MlflowClient()
    for key in [key for key in client.get_model_version("policy-redelivered", candidate).tags
                if key.startswith("mlservice.retrain.")]:  # fmt: skip
        client.delete_model_version_tag("policy-redelivered", candidate, key)
    client.set_registered_model_alias("policy-redelivered", "production", original)
    lost = {"status": "failed", "error": {"code": WORKER_LOST, "message": "lost", "details": {}}}
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error=lost, result=None)

    current_app.send_task(RUN_JOB_TASK, args=[str(job.pk)])
    again = wait_until(lambda: Job.objects.filter(pk=job.pk, attempts=2, status=Job.Status.SUCCEEDED).first())
    current_app.send_task(RUN_JOB_TASK, args=[str(job.pk)])  # once more, after it finished: nothing to do

    assert again.status == Job.Status.SUCCEEDED, again.error
    assert again.attempts == 2
    assert again.result["candidate_version"] == candidate
    assert again.result["decision"] == "promoted"
    assert [str(v.version) for v in versions("policy-redelivered")] == [original, candidate]
    assert production_version("policy-redelivered") == candidate
    assert client.get_model_version("policy-redelivered", candidate).tags[DECISION] == "promoted"


# --- The decision alone (no worker: a job enqueued here is never run) -----------------------------


def _event(name: str, version: str, **fields: Any) -> DriftEvent:
    values = {"trigger": DriftEvent.Trigger.MONITORING, "baseline_kind": DriftEvent.Baseline.DRIFT_SAMPLE,
              "baseline_rows": 300, "subject_rows": 300, "drift_detected": True, "drifted_share": 0.5,
              "features": [{"column": "x0", "alert": True}], **fields}  # fmt: skip
    return DriftEvent.objects.create(registered_model_name=name, model_version=version, **values)


@pytest.fixture
def iris_production(api_client: Any, request: pytest.FixtureRequest) -> str:
    """A model of this test's own, version 1 in production (MLflow's store lives for the whole session)."""
    name = f"policy-decide-{request.node.name.removeprefix('test_')[:60]}".replace("_", "-")
    spec = TrainingSpec(model_name=name, data={"builtin": "iris"}, params={"n_estimators": 2})
    assert model_train(spec=spec).model_version == "1"
    return name


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the jobs sent to the broker instead of sending them (these tests have no worker)."""
    sent: list[str] = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args, **kwargs: sent.append(args[0]))
    return sent


def test_a_check_of_a_version_that_is_not_production_enqueues_nothing(api_client, iris_production, no_broker):
    set_policy(api_client, iris_production)
    model_train(
        spec=TrainingSpec(model_name=iris_production, data={"builtin": "iris"}, params={"n_estimators": 2}, alias=None)
    )

    assert retrain_policy_apply(_event(iris_production, "2")) is None
    assert retrain_policy_apply(_event(iris_production, "1")) is not None


def test_a_drifted_share_below_the_policys_minimum_enqueues_nothing(api_client, iris_production, no_broker):
    set_policy(api_client, iris_production, min_drifted_share=0.6)

    assert retrain_policy_apply(_event(iris_production, "1", drifted_share=0.5)) is None
    assert retrain_policy_apply(_event(iris_production, "1", drifted_share=0.75)) is not None


def test_an_estimated_drop_triggers_only_from_its_minimum(api_client, iris_production, no_broker):
    set_policy(api_client, iris_production, retrain_on_drift=False,
               retrain_on_estimated_drop={"metric": "accuracy", "min_drop": 0.05}, cooldown_s=0)  # fmt: skip
    small = {"metric": "accuracy", "value": 0.93, "reference_value": 0.95, "alert": False}
    large = {"metric": "accuracy", "value": 0.85, "reference_value": 0.95, "alert": True}

    assert retrain_policy_apply(_event(iris_production, "1", estimated_performance=small)) is None
    job_id = retrain_policy_apply(_event(iris_production, "1", estimated_performance=large))

    job = Job.objects.get(pk=job_id)
    assert "estimated accuracy" in job.payload["trigger"]
    assert "0.1000 worse than the reference" in job.payload["trigger"]


def test_none_while_another_retrain_of_the_model_runs(api_client, iris_production, no_broker):
    set_policy(api_client, iris_production, cooldown_s=0)
    running = Job.objects.create(
        kind=Job.Kind.RETRAIN, model_name=iris_production, status=Job.Status.RUNNING, heartbeat_at=timezone.now()
    )

    assert retrain_policy_apply(_event(iris_production, "1")) is None
    # Its worker stopped beating: it no longer holds the model's retrains back.
    Job.objects.filter(pk=running.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert retrain_policy_apply(_event(iris_production, "1")) is not None
    assert Job.objects.filter(model_name=iris_production).count() == 2


def test_a_broker_that_is_down_fails_the_job_keeps_the_check_and_no_cool_down_starts(api_client, iris_production):
    from mlservice.celery import app as celery_app
    from tests.utils import closed_port_url

    set_policy(api_client, iris_production, cooldown_s=3600)
    saved = celery_app.conf.broker_url
    celery_app.conf.broker_url = closed_port_url().replace("http://", "redis://")
    celery_app.conf.broker_connection_max_retries = 0
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    try:
        job_id = retrain_policy_apply(_event(iris_production, "1"))
    finally:
        celery_app.conf.broker_url = saved
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.FAILED
    assert job.error["error"]["code"] == "dependency_unavailable"
    assert RetrainPolicy.objects.get(model_name=iris_production).last_triggered_at is None


def test_one_job_per_check_however_often_it_is_evaluated(api_client, iris_production, no_broker):
    set_policy(api_client, iris_production, cooldown_s=0)
    event = _event(iris_production, "1")

    first, second = retrain_policy_apply(event), retrain_policy_apply(event)

    assert first == second is not None
    assert Job.objects.filter(drift_event=event).count() == 1
    assert no_broker == [str(first)]


def test_concurrent_checks_in_separate_connections_enqueue_one_job(api_client, iris_production, no_broker):
    set_policy(api_client, iris_production, cooldown_s=3600)
    events = [_event(iris_production, "1") for _ in range(4)]
    barrier = threading.Barrier(len(events))
    results: list[Any] = []

    def evaluate(event: DriftEvent) -> None:
        from django.db import transaction

        try:
            barrier.wait()
            with transaction.atomic():
                results.append(retrain_policy_apply(event))
        finally:
            connection.close()

    threads = [threading.Thread(target=evaluate, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len([job for job in results if job is not None]) == 1
    assert Job.objects.filter(model_name=iris_production, kind=Job.Kind.RETRAIN).count() == 1
