"""A training either registers a version with its drift sample, or leaves nothing behind."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import override_settings
from mlflow import MlflowClient

from drift.models import DriftSample
from registry.models import Run
from tests.conftest import s3_storage_settings
from tests.models_api.test_train_api import assert_failed, train_body
from tests.utils import closed_port_url


def registered_versions(name: str) -> list:
    return MlflowClient().search_model_versions(f"name='{name}'")


@pytest.mark.django_db
@pytest.mark.usefixtures("runs_jobs")
def test_storage_down_during_training_is_503_and_registers_nothing(api_client):
    with override_settings(STORAGES=s3_storage_settings(closed_port_url())):
        response = api_client.post("/train", train_body(model_name="storage-down"), format="json")

    body = assert_failed(response, 503, "dependency_unavailable")
    assert body["error"]["details"]["dependency"] == "storage"
    assert body["run_name"].startswith("train_")
    assert registered_versions("storage-down") == []
    assert not DriftSample.objects.filter(registered_model_name="storage-down").exists()

    run = Run.objects.get(run_name=body["run_name"])
    assert run.status == Run.Status.FAILED
    assert "storage" in run.error
    assert "Traceback" in run.traceback
    mlflow_run = MlflowClient().get_run(run.mlflow_run_id)
    assert mlflow_run.info.status == "FAILED"
    assert "storage" in mlflow_run.data.tags["error"]


@pytest.mark.django_db
@pytest.mark.usefixtures("runs_jobs")
def test_mlflow_down_is_503_and_the_failure_is_kept_on_the_run_row(api_client):
    with override_settings(MLFLOW_TRACKING_URI=closed_port_url()):
        response = api_client.post("/train", train_body(model_name="mlflow-down"), format="json")

    body = assert_failed(response, 503, "dependency_unavailable")
    assert body["error"]["details"]["dependency"] == "mlflow"
    run = Run.objects.get(run_name=body["run_name"])
    assert run.status == Run.Status.FAILED
    assert run.traceback
    assert not DriftSample.objects.filter(registered_model_name="mlflow-down").exists()
    # MLflow back: the next training works in the same process.
    assert api_client.post("/train", train_body(model_name="mlflow-back"), format="json").status_code == 201


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("runs_jobs")
def test_parallel_trainings_of_one_name_give_distinct_versions_and_samples(api_client):
    responses: list = [None, None]

    def train(index: int) -> None:
        try:
            responses[index] = api_client.post(
                "/train", train_body(model_name="parallel", random_state=index), format="json"
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=train, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    bodies = [response.json() for response in responses]
    assert [response.status_code for response in responses] == [201, 201], bodies
    assert {body["model_version"] for body in bodies} == {"1", "2"}
    assert len({body["drift_sample_id"] for body in bodies}) == 2
    for body in bodies:
        version = MlflowClient().get_model_version("parallel", body["model_version"])
        assert version.tags["drift_sample_id"] == body["drift_sample_id"]
        assert DriftSample.objects.get(pk=body["drift_sample_id"]).model_version == body["model_version"]
