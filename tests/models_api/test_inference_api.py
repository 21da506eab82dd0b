"""POST /inference: MLflow-compatible inputs, version resolution, the prediction store, errors."""

from __future__ import annotations

import threading
import time
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd
import psycopg
import pytest
from django.db import connection
from django.test import override_settings
from mlflow import MlflowClient
from sklearn.datasets import load_iris

from models_api.services import TrainingSpec, model_train
from predictions.models import Prediction
from registry.models import Run
from tests.models_api.test_train_api import assert_failed
from tests.utils import closed_port_url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("flush_infer_runs")]

MODEL = "iris-served"


def features(rows: int = 5) -> pd.DataFrame:
    return load_iris(as_frame=True).frame.drop(columns=["target"]).head(rows)


def infer(client: Any, **body: Any) -> Any:
    return client.post("/inference", {"model_name": MODEL, **body}, format="json")


def expected_predictions(version: str, frame: pd.DataFrame) -> list:
    return mlflow.pyfunc.load_model(f"models:/{MODEL}/{version}").predict(frame).tolist()


def every_input_format(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {
        "dataframe_split": {"dataframe_split": frame.to_dict(orient="split", index=False)},
        "dataframe_records": {"dataframe_records": frame.to_dict(orient="records")},
        "instances": {"instances": frame.to_dict(orient="records")},
        "inputs": {"inputs": frame.to_dict(orient="list")},
    }


@pytest.mark.parametrize("form", ["dataframe_split", "dataframe_records", "instances", "inputs"])
def test_every_json_format_predicts_like_mlflow_pyfunc(api_client, iris_model, form):
    frame = features(8)

    response = infer(api_client, **every_input_format(frame)[form])

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == iris_model["model_version"]
    assert body["predictions"] == expected_predictions(iris_model["model_version"], frame)


def test_csv_body_predicts_like_mlflow_pyfunc(api_client, iris_model):
    frame = features(6)

    response = api_client.post(
        f"/inference?model_name={MODEL}", data=frame.to_csv(index=False), content_type="text/csv"
    )

    assert response.status_code == 200, response.content
    assert response.json()["predictions"] == expected_predictions(iris_model["model_version"], frame)


def test_stored_rows_match_the_response(api_client, iris_model):
    frame = features(4)

    body = infer(api_client, dataframe_records=frame.to_dict(orient="records"), return_probabilities=True).json()

    stored = list(Prediction.objects.filter(id__in=body["prediction_ids"]).order_by("row_index"))
    assert [row.id for row in stored] == body["prediction_ids"]
    assert [row.prediction for row in stored] == body["predictions"]
    assert [row.probabilities for row in stored] == body["probabilities"]
    assert [row.inputs for row in stored] == frame.to_dict(orient="records")
    assert {str(row.request_id) for row in stored} == {body["request_id"]}
    assert {(row.model_name, row.model_version) for row in stored} == {(MODEL, iris_model["model_version"])}
    assert all(abs(sum(p) - 1.0) < 1e-9 for p in body["probabilities"])


def test_request_is_logged_as_an_inference_run_off_the_request_path(api_client, iris_model, flush_infer_runs):
    body = infer(api_client, dataframe_records=features(3).to_dict(orient="records")).json()

    assert body["run_name"].startswith("infer_")
    assert flush_infer_runs.flush(timeout=30)
    run = Run.objects.get(run_name=body["run_name"])
    assert run.kind == Run.Kind.INFER
    assert run.status == Run.Status.SUCCEEDED
    assert run.metrics["rows"] == 3
    assert run.metrics["requests"] == 1
    mlflow_run = MlflowClient().get_run(run.mlflow_run_id)
    assert mlflow_run.info.run_name == body["run_name"]
    assert mlflow_run.data.metrics["rows"] == 3


def test_ten_thousand_rows_in_one_request(api_client, iris_model):
    frame = pd.concat([features(150)] * 67, ignore_index=True).head(10_000)

    response = infer(api_client, dataframe_split=frame.to_dict(orient="split", index=False))

    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["predictions"]) == len(body["prediction_ids"]) == 10_000
    assert Prediction.objects.filter(request_id=body["request_id"]).count() == 10_000


def test_version_resolution_explicit_alias_production_then_latest(api_client, iris_model, clear_serving_caches):
    spec = TrainingSpec(model_name="resolution", data={"builtin": "iris"}, params={"n_estimators": 2}, alias=None)
    first = model_train(spec=spec).model_version
    second = model_train(spec=spec).model_version
    row = {"dataframe_records": features(1).to_dict(orient="records")}

    def served(**selection: Any) -> str:
        response = api_client.post("/inference", {"model_name": "resolution", **selection, **row}, format="json")
        assert response.status_code == 200, response.content
        return response.json()["model_version"]

    assert served() == second  # no production alias: the latest
    MlflowClient().set_registered_model_alias("resolution", "production", first)
    MlflowClient().set_registered_model_alias("resolution", "canary", second)
    clear_serving_caches_now()
    assert served() == first  # production
    assert served(alias="canary") == second
    assert served(model_version=first) == first
    assert served(model_version=int(second)) == second


def clear_serving_caches_now() -> None:
    from registry.serving import resolution_cache

    resolution_cache.clear()


@override_settings(MLSERVICE_ALIAS_TTL_S=0.3)
def test_cached_alias_follows_its_new_target_after_the_ttl(api_client, iris_model, clear_serving_caches):
    spec = TrainingSpec(model_name="ttl", data={"builtin": "iris"}, params={"n_estimators": 2}, alias="live")
    first = model_train(spec=spec).model_version
    row = {"model_name": "ttl", "alias": "live", "dataframe_records": features(1).to_dict(orient="records")}
    assert api_client.post("/inference", row, format="json").json()["model_version"] == first

    second = model_train(spec=spec).model_version
    time.sleep(0.4)

    assert api_client.post("/inference", row, format="json").json()["model_version"] == second


@pytest.mark.parametrize(
    ("selection", "status"),
    [
        ({"model_name": "no-such-model"}, 404),
        ({"model_name": MODEL, "model_version": "999"}, 404),
        ({"model_name": MODEL, "alias": "nobody"}, 404),
        ({"model_name": "bad name"}, 400),
        ({"model_name": {}}, 400),
        ({"model_name": MODEL, "model_version": "one"}, 400),
    ],
)
def test_unknown_or_invalid_model_selection(api_client, iris_model, clear_serving_caches, selection, status):
    response = api_client.post("/inference", {**selection, "dataframe_records": [{"a": 1}]}, format="json")

    assert_failed(response, status)


def test_missing_and_extra_columns_are_400_naming_them(api_client, iris_model):
    frame = features(2).drop(columns=["sepal width (cm)"]).assign(colour=["red", "blue"])

    body = assert_failed(infer(api_client, dataframe_records=frame.to_dict(orient="records")), 400, "invalid_input")

    assert body["error"]["details"]["missing_columns"] == ["sepal width (cm)"]
    assert body["error"]["details"]["unexpected_columns"] == ["colour"]
    assert "run_name" in body


def test_mistyped_column_is_400_naming_it(api_client, iris_model):
    records = features(2).to_dict(orient="records")
    records[0]["petal length (cm)"] = "long"

    body = assert_failed(infer(api_client, dataframe_records=records), 400, "invalid_input")

    assert "petal length (cm)" in body["error"]["message"]


@pytest.mark.parametrize(
    "payload",
    [{}, {"dataframe_records": []}, {"dataframe_split": {"columns": ["a"]}}, {"instances": [1, 2], "inputs": [1]}],
)
def test_malformed_inputs_are_400(api_client, iris_model, payload):
    assert_failed(infer(api_client, **payload), 400)


@override_settings(MLSERVICE_MAX_INFERENCE_ROWS=10)
def test_more_rows_than_the_limit_is_413(api_client, iris_model):
    response = infer(api_client, dataframe_records=features(11).to_dict(orient="records"))

    assert_failed(response, 413, "payload_too_large")


def test_probabilities_refused_for_a_regressor(api_client):
    version = model_train(
        spec=TrainingSpec(model_name="reg", data={"builtin": "diabetes"}, estimator="Ridge", params={}, alias=None)
    ).model_version
    frame = pd.DataFrame([{c: 0.0 for c in ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]}])

    body = {"model_name": "reg", "model_version": version, "return_probabilities": True}
    response = api_client.post(
        "/inference", {**body, "dataframe_records": frame.to_dict(orient="records")}, format="json"
    )

    assert_failed(response, 400)
    assert "return_probabilities" in response.json()["error"]["details"]


def test_inference_keeps_answering_while_mlflow_is_down(api_client, iris_model, flush_infer_runs):
    version = iris_model["model_version"]
    assert (
        infer(api_client, model_version=version, dataframe_records=features(1).to_dict(orient="records")).status_code
        == 200
    )

    with override_settings(MLFLOW_TRACKING_URI=closed_port_url()):
        response = infer(api_client, model_version=version, dataframe_records=features(2).to_dict(orient="records"))
        assert response.status_code == 200, response.content
        assert not flush_infer_runs.flush(timeout=1)

    # MLflow back: the run of the request served during the outage is written after all.
    assert flush_infer_runs.flush(timeout=30)
    assert Run.objects.filter(run_name=response.json()["run_name"], kind=Run.Kind.INFER).exists()


@pytest.mark.django_db(transaction=True)
def test_database_failure_during_the_write_is_503_and_stores_nothing(api_client, iris_model, settings):
    database = settings.DATABASES["default"]
    locker = psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"], dbname=connection.settings_dict["NAME"]
    )
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '200ms'")
    try:
        locker.execute("LOCK TABLE predictions_prediction IN ACCESS EXCLUSIVE MODE")
        response = infer(api_client, dataframe_records=features(3).to_dict(orient="records"))
    finally:
        locker.rollback()
        locker.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    body = assert_failed(response, 503, "dependency_unavailable")
    assert body["error"]["details"]["dependency"] == "database"
    assert Prediction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_eight_threads_of_fifty_requests_lose_no_row(api_client, iris_model):
    rows = features(2).to_dict(orient="records")
    answered: list[int] = []
    failures: list[Any] = []
    lock = threading.Lock()

    def client_thread() -> None:
        try:
            for _ in range(50):
                response = infer(api_client, dataframe_records=rows)
                with lock:
                    if response.status_code == 200:
                        answered.extend(response.json()["prediction_ids"])
                    else:
                        failures.append(response.content)
        finally:
            connection.close()

    threads = [threading.Thread(target=client_thread) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(answered) == 8 * 50 * 2
    assert Prediction.objects.filter(id__in=answered).count() == len(set(answered)) == 800


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model_name": "iris-served", "dataframe_records": [',
        b'{"model_name": "iris-served", "dataframe_records": [{"sepal length (cm)": NaN}]}',
        b'{"model_name": "iris-served", "dataframe_records": []} trailing',
        b'{"model_name": "iris-\xff"}',
    ],
    ids=["truncated", "nan-is-not-json", "trailing-text", "not-utf8"],
)
def test_a_body_that_is_not_json_is_400_in_the_error_shape(api_client, iris_model, raw):
    response = api_client.post("/inference", data=raw, content_type="application/json")

    body = assert_failed(response, 400, "parse_error")
    assert body["error"]["message"].startswith("JSON parse error")
    assert response["Content-Type"] == "application/json"


def test_columns_in_another_order_and_integers_predict_as_in_the_model_order(api_client, iris_model):
    frame = features(6)
    shuffled = frame[list(reversed(frame.columns))]
    as_integers = frame.round().astype(int)

    in_order = infer(api_client, dataframe_split=frame.to_dict(orient="split", index=False)).json()
    reordered = infer(api_client, dataframe_split=shuffled.to_dict(orient="split", index=False)).json()
    integers = infer(api_client, dataframe_records=as_integers.to_dict(orient="records"))

    assert reordered["predictions"] == in_order["predictions"]
    assert reordered["predictions"] == expected_predictions(iris_model["model_version"], frame)
    assert integers.status_code == 200, integers.content
    assert integers.json()["predictions"] == expected_predictions(
        iris_model["model_version"], as_integers.astype(float)
    )
    stored = Prediction.objects.filter(request_id=integers.json()["request_id"]).order_by("row_index")
    assert [row.inputs for row in stored] == as_integers.astype(float).to_dict(orient="records")


# Values outside the plain path (only JSON numbers) take MLflow's parsing, as every request did before it.
@pytest.mark.parametrize("value", [True, None, "5.1"], ids=["boolean", "null", "numeric-string"])
def test_values_that_mlflow_parsing_accepts_are_still_answered_and_stored(api_client, iris_model, value):
    records = features(2).to_dict(orient="records")
    records[1]["sepal width (cm)"] = value

    response = infer(api_client, dataframe_records=records)

    assert response.status_code == 200, response.content
    assert Prediction.objects.filter(request_id=response.json()["request_id"]).count() == 2


def test_rows_parsed_by_mlflow_are_stored_with_every_digit(api_client, iris_model):
    # A null sends the request through MLflow's parsing (not the plain path); what is stored is what was sent.
    records = features(3).to_dict(orient="records")
    records[0]["sepal length (cm)"] = 1e-12
    records[1]["sepal width (cm)"] = 1 / 3
    records[2]["petal length (cm)"] = None

    response = infer(api_client, dataframe_records=records)

    assert response.status_code == 200, response.content
    stored = Prediction.objects.filter(request_id=response.json()["request_id"]).order_by("row_index")
    assert [row.inputs for row in stored] == records


@pytest.mark.parametrize("value", [[5.1], {"cm": 5.1}, "wide"], ids=["list", "object", "word"])
def test_a_value_that_is_not_a_number_is_400_naming_its_column(api_client, iris_model, value):
    records = features(2).to_dict(orient="records")
    records[1]["sepal width (cm)"] = value

    body = assert_failed(infer(api_client, dataframe_records=records), 400, "invalid_input")

    assert "sepal width (cm)" in body["error"]["message"]


def test_a_thousand_rows_with_probabilities_are_stored_as_answered(api_client, iris_model):
    frame = pd.concat([features(150)] * 7, ignore_index=True).head(1000)

    body = infer(
        api_client, dataframe_split=frame.to_dict(orient="split", index=False), return_probabilities=True
    ).json()

    stored = list(Prediction.objects.filter(request_id=body["request_id"]).order_by("row_index"))
    assert [row.id for row in stored] == body["prediction_ids"]
    assert (
        [row.prediction for row in stored]
        == body["predictions"]
        == expected_predictions(iris_model["model_version"], frame)
    )
    assert [row.probabilities for row in stored] == body["probabilities"]
    assert [row.inputs for row in stored] == frame.to_dict(orient="records")


def test_a_version_served_by_scikit_learn_gives_its_pipelines_predictions_and_probabilities(api_client):
    spec = TrainingSpec(
        model_name="iris-hgb", data={"builtin": "iris"}, estimator="HistGradientBoostingClassifier",
        params={"max_iter": 20}, alias=None,
    )  # fmt: skip
    version = model_train(spec=spec).model_version
    frame = features(150).sample(40, random_state=1)
    pipeline = mlflow.sklearn.load_model(f"models:/iris-hgb/{version}")

    response = api_client.post(
        "/inference",
        {"model_name": "iris-hgb", "model_version": version, "return_probabilities": True,
         "dataframe_split": frame.to_dict(orient="split", index=False)},
        format="json",
    )  # fmt: skip

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["predictions"] == pipeline.predict(frame).tolist()
    assert body["probabilities"] == pipeline.predict_proba(frame).tolist()
