"""POST /predictions/feedback: ground truth in bulk, all or nothing."""

from __future__ import annotations

import pytest

from predictions.models import Prediction
from tests.models_api.test_train_api import assert_failed
from tests.predictions.factories import PredictionFactory

pytestmark = pytest.mark.django_db


def test_feedback_by_id_and_by_request_row(api_client):
    first, second = PredictionFactory(), PredictionFactory(row_index=7)

    response = api_client.post(
        "/predictions/feedback",
        [
            {"prediction_id": first.id, "ground_truth": 1},
            {"request_id": str(second.request_id), "row_index": 7, "ground_truth": "setosa"},
        ],
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "success", "updated": 2}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.ground_truth, second.ground_truth) == (1, "setosa")
    assert first.ground_truth_at is not None


def test_unknown_ids_are_404_naming_each_and_nothing_is_applied(api_client):
    known = PredictionFactory()

    response = api_client.post(
        "/predictions/feedback",
        [
            {"prediction_id": known.id, "ground_truth": 1},
            {"prediction_id": 999_999_998, "ground_truth": 1},
            {"prediction_id": 999_999_999, "ground_truth": 0},
            {"request_id": "00000000-0000-0000-0000-000000000000", "row_index": 0, "ground_truth": 0},
        ],
        format="json",
    )

    body = assert_failed(response, 404, "not_found")
    assert body["error"]["details"]["prediction_id"] == [999_999_998, 999_999_999]
    assert body["error"]["details"]["request_row"] == [
        {"request_id": "00000000-0000-0000-0000-000000000000", "row_index": 0}
    ]
    known.refresh_from_db()
    assert known.ground_truth is None


@pytest.mark.parametrize(
    "items",
    [
        [],
        {"prediction_id": 1, "ground_truth": 1},
        [{"ground_truth": 1}],
        [{"prediction_id": 1}],
        [{"prediction_id": 1, "request_id": "00000000-0000-0000-0000-000000000000", "row_index": 0, "ground_truth": 1}],
        [{"prediction_id": 1, "ground_truth": None}],
    ],
)
def test_malformed_feedback_is_400(api_client, items):
    assert_failed(api_client.post("/predictions/feedback", items, format="json"), 400, "invalid_input")


def test_the_same_prediction_twice_in_one_call_is_400(api_client):
    known = PredictionFactory()
    items = [{"prediction_id": known.id, "ground_truth": 1}, {"prediction_id": known.id, "ground_truth": 2}]

    body = assert_failed(api_client.post("/predictions/feedback", items, format="json"), 400)

    assert "[1]" in body["error"]["details"]
    assert Prediction.objects.get(pk=known.pk).ground_truth is None
