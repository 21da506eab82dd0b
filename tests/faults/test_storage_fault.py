"""The S3 server stopped and started again, under a running service (no restart of the service)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings
from mlflow import MlflowClient

from drift.models import DriftSample
from tests.conftest import SeaweedServer, s3_storage_settings
from tests.models_api.test_train_api import assert_failed, train_body

pytestmark = [pytest.mark.django_db, pytest.mark.s3, pytest.mark.usefixtures("runs_jobs")]


@pytest.fixture
def s3_server() -> Iterator[SeaweedServer]:
    """A SeaweedFS of this test's own, which the test kills and restarts on the same data and ports."""
    data = Path(tempfile.mkdtemp(prefix="mlservice-weed-fault-"))
    server = SeaweedServer(data)
    server.start()
    with override_settings(STORAGES=s3_storage_settings(server.endpoint)):
        yield server
    server.kill()
    shutil.rmtree(data, ignore_errors=True)


def test_s3_down_then_back(api_client, anonymous_client, iris_model, s3_server):
    row = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}
    assert anonymous_client.get("/health/ready").status_code == 200
    assert api_client.post("/train", train_body(model_name="s3-fault"), format="json").status_code == 201

    s3_server.kill()

    ready = anonymous_client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["failing"] == ["storage"]
    body = assert_failed(api_client.post("/train", train_body(model_name="s3-fault"), format="json"), 503)
    assert body["error"]["details"]["dependency"] == "storage"
    assert len(MlflowClient().search_model_versions("name='s3-fault'")) == 1
    assert DriftSample.objects.filter(registered_model_name="s3-fault").count() == 1
    # Serving needs no storage: it keeps answering.
    served = api_client.post("/inference", {"model_name": "iris-served", "dataframe_records": [row]}, format="json")
    assert served.status_code == 200

    s3_server.start()

    assert anonymous_client.get("/health/ready").status_code == 200
    again = api_client.post("/train", train_body(model_name="s3-fault"), format="json")
    assert again.status_code == 201, again.content
    assert again.json()["model_version"] == "2"
