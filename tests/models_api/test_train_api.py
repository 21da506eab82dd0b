"""POST /train over HTTP: every dataset form, the response contract and the error shape."""

from __future__ import annotations

import io
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_iris

from drift.models import DriftSample
from drift.services import drift_sample_frame
from registry.models import Run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("runs_jobs")]

TINY_FOREST = {"n_estimators": 3, "max_depth": 3}


def iris_frame() -> pd.DataFrame:
    return load_iris(as_frame=True).frame


def train_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "model_name": "iris",
        "data": {"builtin": "iris"},
        "estimator": "RandomForestClassifier",
        "params": TINY_FOREST,
    }
    return {**body, **overrides}


def assert_failed(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] == "failed"
    assert set(body["error"]) == {"code", "message", "details"}
    if code:
        assert body["error"]["code"] == code
    return body


def test_train_builtin_registers_version_with_alias_metrics_and_drift_sample(api_client):
    response = api_client.post("/train", train_body(model_name="iris-builtin"), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "success"
    assert body["run_name"].startswith("train_")
    assert body["registered_model_name"] == "iris-builtin"
    assert body["aliases"] == ["production"]
    assert 0.5 <= body["metrics"]["val_accuracy"] <= 1.0
    assert {"val_f1_macro", "val_roc_auc", "val_log_loss"} <= set(body["metrics"])

    client = MlflowClient()
    version = client.get_model_version("iris-builtin", body["model_version"])
    assert version.tags["drift_sample_id"] == body["drift_sample_id"]
    assert str(client.get_model_version_by_alias("iris-builtin", "production").version) == body["model_version"]
    run = client.get_run(body["run_id"])
    assert run.info.run_name == body["run_name"]
    assert run.info.status == "FINISHED"

    sample = DriftSample.objects.get(pk=body["drift_sample_id"])
    assert sample.model_version == body["model_version"]
    # 10% of 150 rows, stratified: every class is in the sample.
    assert sample.rows == 15
    frame = drift_sample_frame(sample=sample)
    assert len(frame) == 15
    assert frame["target"].nunique() == 3

    mirror = Run.objects.get(run_name=body["run_name"])
    assert mirror.status == Run.Status.SUCCEEDED
    assert mirror.mlflow_run_id == body["run_id"]
    assert mirror.model_version == body["model_version"]
    assert mirror.params["estimator"] == "RandomForestClassifier"


def test_trained_model_loads_and_predicts_from_raw_columns(api_client):
    body = api_client.post("/train", train_body(model_name="iris-loads"), format="json").json()

    model = mlflow.pyfunc.load_model(f"models:/iris-loads/{body['model_version']}")
    features = iris_frame().drop(columns=["target"]).head(10)
    predictions = model.predict(features)

    assert len(predictions) == 10
    assert set(predictions) <= {0, 1, 2}


def test_train_dataframe_split_and_records_give_the_same_model(api_client):
    frame = iris_frame()
    split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    records = frame.to_dict(orient="records")

    first = api_client.post(
        "/train", train_body(model_name="iris-split", data={"dataframe_split": split}), format="json"
    )
    second = api_client.post(
        "/train", train_body(model_name="iris-records", data={"dataframe_records": records}), format="json"
    )

    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert first.json()["metrics"]["val_accuracy"] == second.json()["metrics"]["val_accuracy"]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_train_from_uri_in_datasets_storage(api_client, datasets_dir, suffix):
    path = datasets_dir / "2026" / f"iris.{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = iris_frame()
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path, index=False)

    response = api_client.post(
        "/train", train_body(model_name=f"iris-{suffix}", data={"uri": f"2026/iris.{suffix}"}), format="json"
    )

    assert response.status_code == 201, response.content


def test_train_multipart_csv_upload(api_client):
    buffer = io.BytesIO(iris_frame().to_csv(index=False).encode())
    buffer.name = "iris.csv"

    response = api_client.post(
        "/train",
        {"model_name": "iris-upload", "file": buffer, "params": '{"n_estimators": 3}', "alias": "staging"},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    assert response.json()["aliases"] == ["staging"]


def test_train_with_categorical_and_missing_values(api_client):
    records = [
        {"size": size, "color": color, "target": target}
        for size, color, target in [(1.0, "red", "a"), (2.0, "blue", "b"), (None, "red", "a"), (4.0, None, "b")] * 10
    ]
    response = api_client.post(
        "/train",
        train_body(model_name="mixed", data={"dataframe_records": records}, estimator="LogisticRegression", params={}),
        format="json",
    )

    assert response.status_code == 201, response.content
    model = mlflow.pyfunc.load_model(f"models:/mixed/{response.json()['model_version']}")
    unseen = pd.DataFrame({"size": [3.0, None], "color": ["green", None]})
    assert set(model.predict(unseen)) <= {"a", "b"}


def test_train_regressor_reports_regression_metrics(api_client):
    response = api_client.post(
        "/train",
        train_body(model_name="diabetes", data={"builtin": "diabetes"}, estimator="Ridge", params={"alpha": 0.5}),
        format="json",
    )

    assert response.status_code == 201, response.content
    metrics = response.json()["metrics"]
    assert {"val_rmse", "val_mae", "val_r2"} <= set(metrics)
    assert metrics["val_rmse"] > 0


def test_train_accepts_trailing_slash(api_client):
    response = api_client.post("/train/", train_body(model_name="iris-slash"), format="json")

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"estimator": "os.system"}, "estimator"),
        ({"params": {"n_trees": 3}}, "params.n_trees"),
        ({"params": {"n_estimators": -1}}, "params.n_estimators"),
        ({"params": {"estimator": "x"}}, "params.estimator"),
        ({"model_name": "bad name!"}, "model_name"),
        # Found by the fuzzer: a non-string name crashed the error message's formatting.
        ({"model_name": {}}, "model_name"),
        ({"target": "nope"}, "target"),
        ({"features": ["petal length (cm)", "nope"]}, "features"),
        ({"data": {"builtin": "mnist"}}, "data.builtin"),
        ({"data": {"builtin": "iris", "uri": "x.csv"}}, "data"),
        ({"data": {"uri": "../secret.csv"}}, "data.uri"),
        ({"data": {"uri": "/etc/passwd.csv"}}, "data.uri"),
        ({"data": {"uri": "s3://other-bucket/train.csv"}}, "data.uri"),
        ({"data": {"uri": "missing.csv"}}, "data.uri"),
        ({"data": {"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}}, "data.dataframe_split.data[0]"),
        ({"drift_sample_fraction": 0}, "drift_sample_fraction"),
        ({"alias": "latest"}, "alias"),
    ],
)
def test_train_bad_input_is_400_naming_the_field(api_client, overrides, field):
    response = api_client.post("/train", train_body(**overrides), format="json")

    body = assert_failed(response, 400)
    assert field in body["error"]["details"] or body["error"]["message"].startswith(field), body


def test_train_unparseable_csv_upload_is_400(api_client):
    buffer = io.BytesIO(b"\xff\xfe\x00garbage\x00")
    buffer.name = "bad.csv"

    response = api_client.post("/train", {"model_name": "bad", "file": buffer}, format="multipart")

    assert_failed(response, 400)


def test_train_estimator_refusing_data_is_400_and_run_failed(api_client):
    records = [{"x": float(i), "target": "label"} for i in range(20)]
    records += [{"x": 1.0, "target": 0.5}] * 0

    response = api_client.post(
        "/train",
        train_body(model_name="refused", data={"dataframe_records": records}, estimator="Ridge", params={}),
        format="json",
    )

    body = assert_failed(response, 400)
    assert "target" in body["error"]["details"]
    assert not MlflowClient().search_model_versions("name='refused'")
