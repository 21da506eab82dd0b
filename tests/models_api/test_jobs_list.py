"""GET /jobs/ through its declared filters (jobs written directly: no worker needed)."""

from __future__ import annotations

import pytest

from models_api.models import Job
from tests.models_api.test_train_api import assert_failed

pytestmark = pytest.mark.django_db


def job_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["job_id"] for row in response.json()["results"]]


def test_filters_by_status_kind_and_model(api_client):
    failed = Job.objects.create(kind=Job.Kind.TRAIN, model_name="iris", status=Job.Status.FAILED)
    retrain = Job.objects.create(kind=Job.Kind.RETRAIN, model_name="iris", status=Job.Status.SUCCEEDED)
    wine = Job.objects.create(kind=Job.Kind.TRAIN, model_name="wine", status=Job.Status.SUCCEEDED)

    assert job_ids(api_client.get("/jobs/", {"status": "failed"})) == [str(failed.id)]
    assert job_ids(api_client.get("/jobs/", {"kind": "retrain"})) == [str(retrain.id)]
    assert job_ids(api_client.get("/jobs", {"model_name": "wine", "status": "succeeded"})) == [str(wine.id)]
    assert len(job_ids(api_client.get("/jobs/"))) == 3


@pytest.mark.parametrize(("field", "value"), [("status", "done"), ("kind", ""), ("model_name", "a b")])
def test_a_bad_filter_value_is_400_naming_it(api_client, field, value):
    body = assert_failed(api_client.get("/jobs/", {field: value}), 400, "invalid_input")

    assert list(body["error"]["details"]) == [field]
