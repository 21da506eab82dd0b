"""POST /evaluate (dataset and stored predictions), the models resource and promotion."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from mlflow import MlflowClient
from sklearn.datasets import load_iris

from models_api.services import TrainingSpec, model_train
from predictions.models import Prediction
from registry.models import ModelVersion, Run
from tests.models_api.test_train_api import assert_failed

pytestmark = pytest.mark.django_db

MODEL = "iris-served"


def iris_records(rows: int = 150) -> list[dict]:
    return load_iris(as_frame=True).frame.head(rows).to_dict(orient="records")


def test_evaluate_on_a_dataset_reports_classification_metrics_and_a_run(api_client, iris_model):
    response = api_client.post("/evaluate", {"model_name": MODEL, "data": {"builtin": "iris"}}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "success"
    assert body["rows"] == 150
    assert body["model_version"] == iris_model["model_version"]
    assert {"accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "log_loss"} <= set(body["metrics"])
    assert body["metrics"]["accuracy"] > 0.8
    assert body["run_name"].startswith("eval_")
    run = Run.objects.get(run_name=body["run_name"])
    assert run.kind == Run.Kind.EVAL
    assert MlflowClient().get_run(run.mlflow_run_id).data.metrics["accuracy"] == body["metrics"]["accuracy"]


def test_evaluate_a_regressor_reports_regression_metrics(api_client):
    version = model_train(
        spec=TrainingSpec(model_name="eval-reg", data={"builtin": "diabetes"}, estimator="Ridge", params={}, alias=None)
    ).model_version

    body = api_client.post(
        "/evaluate",
        {"model_name": "eval-reg", "model_version": version, "data": {"builtin": "diabetes"}},
        format="json",
    ).json()

    assert set(body["metrics"]) == {"rmse", "mae", "r2"}


def test_evaluate_on_stored_predictions_with_ground_truth(api_client, iris_model):
    records = iris_records()
    features = [{k: v for k, v in row.items() if k != "target"} for row in records]
    served = api_client.post("/inference", {"model_name": MODEL, "dataframe_records": features}, format="json").json()
    feedback = [
        {"prediction_id": pid, "ground_truth": row["target"]}
        for pid, row in zip(served["prediction_ids"], records, strict=True)
    ]
    api_client.post("/predictions/feedback", feedback[:100], format="json")

    body = api_client.post("/evaluate", {"model_name": MODEL, "source": "predictions"}, format="json").json()

    assert body["status"] == "success", body
    assert body["rows"] == 100
    expected = sum(p == row["target"] for p, row in zip(served["predictions"][:100], records[:100], strict=True)) / 100
    assert body["metrics"]["accuracy"] == pytest.approx(expected)


def test_evaluate_on_predictions_without_ground_truth_is_insufficient_data(api_client, iris_model):
    Prediction.objects.filter(model_name=MODEL).update(ground_truth=None, ground_truth_at=None)

    body = api_client.post("/evaluate", {"model_name": MODEL, "source": "predictions"}, format="json").json()

    assert body["status"] == "insufficient_data"
    assert body["rows"] == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model_name": MODEL}, 400),
        ({"model_name": MODEL, "data": {"builtin": "iris"}, "target": "nope"}, 400),
        ({"model_name": MODEL, "data": {"builtin": "wine"}}, 400),
        ({"model_name": "no-such-model", "data": {"builtin": "iris"}}, 404),
    ],
)
def test_evaluate_bad_requests(api_client, iris_model, body, status):
    assert_failed(api_client.post("/evaluate", body, format="json"), status)


def test_models_list_and_detail(api_client, iris_model):
    listed = {model["name"]: model for model in api_client.get("/models/").json()}
    detail = api_client.get(f"/models/{MODEL}").json()

    assert listed[MODEL]["aliases"]["production"] == iris_model["model_version"]
    version = next(v for v in detail["versions"] if v["version"] == iris_model["model_version"])
    assert version["aliases"] == ["production"]
    assert version["drift_sample_id"] == iris_model["drift_sample_id"]
    assert version["run_name"] == iris_model["run_name"]
    assert version["estimator"] == "RandomForestClassifier"
    assert version["metrics"]["val_accuracy"] == iris_model["metrics"]["val_accuracy"]
    assert api_client.get("/models/no-such-model").status_code == 404


def test_promote_and_remove_an_alias(api_client):
    spec = TrainingSpec(model_name="promo", data={"builtin": "iris"}, params={"n_estimators": 2})
    first = model_train(spec=spec).model_version
    second = model_train(spec=TrainingSpec(**{**spec.__dict__, "alias": None})).model_version

    response = api_client.post("/models/promo/aliases", {"alias": "production", "version": second}, format="json")

    assert response.status_code == 200, response.content
    assert str(MlflowClient().get_model_version_by_alias("promo", "production").version) == second
    assert ModelVersion.objects.get(registered_model_name="promo", version=second).aliases == ["production"]
    assert ModelVersion.objects.get(registered_model_name="promo", version=first).aliases == []
    row = [{"sepal length (cm)": 5.0, "sepal width (cm)": 3.0, "petal length (cm)": 1.5, "petal width (cm)": 0.2}]
    served = api_client.post("/inference", {"model_name": "promo", "dataframe_records": row}, format="json").json()
    assert served["model_version"] == second

    assert api_client.delete("/models/promo/aliases/production").status_code == 204
    assert "production" not in MlflowClient().get_registered_model("promo").aliases
    assert_failed(api_client.delete("/models/promo/aliases/production"), 404)
    assert_failed(
        api_client.post("/models/promo/aliases", {"alias": "production", "version": "99"}, format="json"), 404
    )
    assert_failed(api_client.post("/models/promo/aliases", {"alias": "latest", "version": first}, format="json"), 400)


def test_admin_promote_action_moves_production(iris_model):
    spec = TrainingSpec(model_name="promo-admin", data={"builtin": "iris"}, params={"n_estimators": 2})
    model_train(spec=spec)
    second = model_train(spec=TrainingSpec(**{**spec.__dict__, "alias": None})).model_version
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser(username="op2", password="pw-op2-12345"))
    row = ModelVersion.objects.get(registered_model_name="promo-admin", version=second)

    changelist = reverse("admin:registry_modelversion_changelist")
    page = browser.get(changelist)
    response = browser.post(changelist, {"action": "promote_to_production", "_selected_action": [row.pk]}, follow=True)

    assert page.status_code == 200
    assert response.status_code == 200
    assert str(MlflowClient().get_model_version_by_alias("promo-admin", "production").version) == second


def test_evaluation_with_mlflow_down_is_503_and_its_run_row_keeps_the_error(api_client, iris_model):
    from django.test import override_settings

    from tests.utils import closed_port_url

    body = {"model_name": MODEL, "model_version": iris_model["model_version"], "data": {"builtin": "iris"}}
    assert api_client.post("/evaluate", body, format="json").status_code == 200  # the model is now cached

    with override_settings(MLFLOW_TRACKING_URI=closed_port_url()):
        response = api_client.post("/evaluate", body, format="json")

    failed = assert_failed(response, 503, "dependency_unavailable")
    assert failed["error"]["details"]["dependency"] == "mlflow"
    run = Run.objects.get(run_name=failed["run_name"])
    assert run.status == Run.Status.FAILED
    assert "mlflow" in run.error
