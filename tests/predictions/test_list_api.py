"""GET /predictions/: filters and cursor pagination."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.models_api.test_train_api import assert_failed
from tests.predictions.factories import PredictionFactory

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_filters_by_model_version_time_and_ground_truth(api_client):
    now = timezone.now()
    old = PredictionFactory(created_at=now - timedelta(days=2))
    labelled = PredictionFactory(ground_truth=1, ground_truth_at=now)
    other_version = PredictionFactory(model_version="2")
    other_model = PredictionFactory(model_name="wine")

    assert ids(api_client.get("/predictions/", {"model_name": "iris", "model_version": "1"})) == [labelled.id, old.id]
    assert ids(api_client.get("/predictions", {"model_name": "iris", "model_version": "2"})) == [other_version.id]
    assert ids(api_client.get("/predictions/", {"model_name": "wine"})) == [other_model.id]
    since = (now - timedelta(days=1)).isoformat()
    assert old.id not in ids(api_client.get("/predictions/", {"since": since}))
    assert ids(api_client.get("/predictions/", {"until": since})) == [old.id]
    assert ids(api_client.get("/predictions/", {"has_ground_truth": "true"})) == [labelled.id]
    assert labelled.id not in ids(api_client.get("/predictions/", {"has_ground_truth": "false"}))


def test_cursor_pagination_walks_every_row_once(api_client):
    created = {PredictionFactory().id for _ in range(7)}
    seen: list[int] = []
    url = "/predictions/?page_size=3"

    while url:
        response = api_client.get(url)
        seen += ids(response)
        url = response.json()["next"]

    assert sorted(seen) == sorted(created)
    assert seen == sorted(seen, reverse=True)


def test_bad_filter_is_400_naming_it(api_client):
    body = assert_failed(api_client.get("/predictions/", {"since": "yesterday"}), 400)

    assert "since" in body["error"]["details"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model_name", "no spaces"),
        ("model_name", ""),
        ("model_version", "0"),
        ("model_version", "v1"),
        ("request_id", "not-a-uuid"),
        ("until", ""),
        ("has_ground_truth", "maybe"),
    ],
)
def test_every_bad_filter_value_is_400_in_the_one_shape(api_client, field, value):
    body = assert_failed(api_client.get("/predictions/", {field: value}), 400, "invalid_input")

    assert list(body["error"]["details"]) == [field]
    assert body["error"]["message"].startswith(f"{field}: ")


def test_filters_by_request_id(api_client):
    first = PredictionFactory()
    sibling = PredictionFactory(request_id=first.request_id)
    PredictionFactory()

    assert ids(api_client.get("/predictions/", {"request_id": str(first.request_id)})) == [sibling.id, first.id]


def test_request_id_pages_through_every_row_of_an_interleaved_request(api_client):
    request_id = uuid.uuid4()
    first, second = (
        PredictionFactory(request_id=request_id, row_index=0),
        PredictionFactory(request_id=request_id, row_index=1),
    )
    PredictionFactory()
    last = PredictionFactory(request_id=request_id, row_index=2)
    seen: list[int] = []
    url = f"/predictions/?request_id={request_id}&page_size=2"

    while url:
        response = api_client.get(url)
        seen += ids(response)
        url = response.json()["next"]

    assert seen == [last.id, second.id, first.id]
    assert ids(api_client.get("/predictions/", {"request_id": str(uuid.uuid4())})) == []


def test_a_blank_boolean_filter_is_no_filter(api_client):
    labelled = PredictionFactory(ground_truth=1, ground_truth_at=timezone.now())
    unlabelled = PredictionFactory()

    assert ids(api_client.get("/predictions/", {"has_ground_truth": ""})) == [unlabelled.id, labelled.id]


def test_rows_carry_inputs_prediction_and_request(api_client):
    prediction = PredictionFactory(probabilities=[0.2, 0.8])

    row = api_client.get("/predictions/").json()["results"][0]

    assert row["inputs"] == prediction.inputs
    assert row["probabilities"] == [0.2, 0.8]
    assert row["request_id"] == str(prediction.request_id)
