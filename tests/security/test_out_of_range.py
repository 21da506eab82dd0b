"""Integers past what the database holds, anywhere a caller can put one: a 4xx, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

PAST_BIGINT = 2**63
HUGE = 10**30
LONG_VERSION = "1" * 23
ROW = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}


def _assert_4xx(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/predictions/feedback", {"items": [{"prediction_id": PAST_BIGINT, "ground_truth": 1}]}),
        ("/predictions/feedback", {"items": [{"prediction_id": HUGE, "ground_truth": 1}]}),
        (
            "/predictions/feedback",
            {"items": [{"request_id": "7f0c9a38-8b7e-4c1e-9a53-1f7a2f0d9e11", "row_index": HUGE, "ground_truth": 1}]},
        ),
        ("/inference", {"model_name": "iris-served", "model_version": LONG_VERSION, "dataframe_records": [ROW]}),
        ("/inference", {"model_name": "iris-served", "model_version": str(HUGE), "dataframe_records": [ROW]}),
        ("/evaluate", {"model_name": "iris-served", "model_version": LONG_VERSION, "data": {"builtin": "iris"}}),
        ("/data-drift", {"model_name": "iris-served", "model_version": LONG_VERSION, "data": {"builtin": "iris"}}),
        ("/models/iris-served/aliases", {"alias": "champion", "version": LONG_VERSION}),
        ("/train", {"model_name": "huge", "data": {"builtin": "iris"}, "random_state": HUGE}),
        ("/train", {"model_name": "huge", "data": {"builtin": "iris"}, "params": {"n_estimators": HUGE}}),
        ("/train", {"model_name": "huge", "data": {"builtin": "iris"}, "params": {"max_depth": float("1e308")}}),
    ],
)
def test_out_of_range_numbers_in_bodies_are_4xx(api_client, iris_model, path, body):
    _assert_4xx(api_client.post(path, body, format="json"))


@pytest.mark.parametrize(
    "path",
    [
        f"/drift-events/{PAST_BIGINT}",
        f"/drift-events/{HUGE}/report",
        f"/predictions/?model_version={LONG_VERSION}",
        f"/predictions/?model_name=iris-served&model_version={HUGE}",
        f"/drift-events/?model_version={HUGE}",
        f"/predictions/?since={HUGE}",
        f"/jobs/?created_after={HUGE}",
        f"/models/iris-served/?version={HUGE}",
    ],
)
def test_out_of_range_numbers_in_urls_are_4xx_or_ignored(api_client, iris_model, path):
    response = api_client.get(path)

    assert response.status_code < 500, (response.status_code, response.content[:500])


@pytest.mark.parametrize(
    "path",
    [
        f"/admin/predictions/prediction/{PAST_BIGINT}/change/",
        f"/admin/drift/driftevent/{HUGE}/change/",
        f"/admin/registry/run/{PAST_BIGINT}/change/",
        f"/admin/registry/modelversion/{PAST_BIGINT}/change/",
        f"/admin/predictions/prediction/?q={PAST_BIGINT}",
        f"/admin/drift/driftevent/?created_at__year={HUGE}",
        "/admin/models_api/job/not-a-uuid/change/",
    ],
)
def test_out_of_range_ids_in_the_admin_are_not_500(path):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="root", password="pw-root-12345"))

    response = client.get(path)

    assert response.status_code < 500, (response.status_code, response.content[:300])


def _records(value: str) -> str:
    row = ", ".join(f'"{column}": {value if index == 0 else 1.0}' for index, column in enumerate(ROW))
    return f"[{{{row}}}, {{{row}}}]"


@pytest.mark.parametrize("value", ["1e400", "-1e400", "NaN", "Infinity", "123456789012345678901234567890"])
@pytest.mark.parametrize("path", ["/inference", "/evaluate", "/data-drift"])
def test_numbers_past_a_double_in_a_dataset_are_4xx(api_client, iris_model, path, value, settings):
    # A drift check or an evaluation that passes validation is queued (no worker here): 202 at once.
    settings.MLSERVICE_DRIFT_WAIT_S = 0
    settings.MLSERVICE_EVALUATE_WAIT_S = 0
    if path == "/inference":
        body = f'{{"model_name": "iris-served", "dataframe_records": {_records(value)}}}'
    else:
        data = _records(value).replace("}", ', "target": 0}')
        body = f'{{"model_name": "iris-served", "data": {{"dataframe_records": {data}}}}}'

    response = api_client.post(path, body, content_type="application/json")

    assert response.status_code < 500, (response.status_code, response.content[:500])


@pytest.mark.parametrize("value", ["1e400", "inf", "123456789012345678901234567890"])
def test_numbers_past_a_double_in_a_csv_are_4xx(api_client, iris_model, value):
    header = ",".join(ROW)
    body = f"{header}\n{value},3.5,1.4,0.2\n"

    response = api_client.post("/inference?model_name=iris-served", body, content_type="text/csv")

    assert response.status_code < 500, (response.status_code, response.content[:500])


def test_a_number_past_a_double_in_training_data_is_a_400_naming_the_field(api_client):
    data = _records("1e400").replace("}", ', "target": 0}')
    body = f'{{"model_name": "huge", "data": {{"dataframe_records": {data}}}}}'

    response = api_client.post("/train", body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert "data" in response.json()["error"]["details"]


@pytest.mark.parametrize(
    "path",
    [
        "/drift-events/?since=1753-07-23T09%3A28%3A33.581838-23%3A53",
        "/predictions/?until=2026-01-01T00%3A00%3A00%2B23%3A59",
        "/jobs/?since=0001-01-01T00%3A00%3A00%2B01%3A00",
    ],
)
def test_instants_with_offsets_postgresql_refuses_are_not_500(api_client, path):
    response = api_client.get(path)

    assert response.status_code < 500, (response.status_code, response.content[:500])
