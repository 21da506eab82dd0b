"""POST /evaluate (dataset and stored predictions, on a job worker), the models resource and promotion."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse
from mlflow import MlflowClient
from sklearn.datasets import load_iris

from models_api.models import Job
from models_api.services import TrainingSpec, model_train
from predictions.models import Prediction
from registry import clients
from registry.models import ModelVersion, Run
from tests.models_api.test_train_api import assert_failed
from tests.utils import closed_port_url

pytestmark = pytest.mark.django_db

MODEL = "iris-served"
# An evaluation runs as a job: the tests that wait for one need a worker.
runs_jobs = pytest.mark.usefixtures("runs_jobs")


def iris_records(rows: int = 150) -> list[dict]:
    return load_iris(as_frame=True).frame.head(rows).to_dict(orient="records")


def job_finished(client: Any, location: str, *, timeout: float = 60) -> dict[str, Any]:
    """Return GET ``location`` (a job) once the job has ended."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(location).json()
        if body["status"] in (Job.Status.SUCCEEDED, Job.Status.FAILED) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def eval_runs_in_mlflow() -> int:
    experiment = clients.mlflow_setup()
    return len(MlflowClient().search_runs([experiment], filter_string="attributes.run_name LIKE 'eval_%'"))


@runs_jobs
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


@runs_jobs
def test_evaluate_answers_through_a_job_that_wrote_the_run(api_client, iris_model):
    response = api_client.post("/evaluate", {"model_name": MODEL, "data": {"builtin": "iris"}}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    job = Job.objects.get(kind=Job.Kind.EVALUATE)
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == body
    assert job.payload["model_version"] == iris_model["model_version"]  # resolved by the request
    run = Run.objects.get(run_name=body["run_name"])
    assert run.job_id == job.pk  # the job's executor created the run
    assert run.status == Run.Status.SUCCEEDED
    mlflow_run = MlflowClient().get_run(run.mlflow_run_id)
    assert mlflow_run.info.run_name == body["run_name"]
    assert mlflow_run.data.tags["mlservice.kind"] == "eval"
    assert mlflow_run.data.metrics["accuracy"] == body["metrics"]["accuracy"]


def test_the_request_only_queues_the_evaluation_and_writes_no_run(api_client, iris_model):
    # No worker here: whatever the request itself does is all that happens.
    before = eval_runs_in_mlflow()

    response = api_client.post(
        "/evaluate", {"model_name": MODEL, "data": {"builtin": "iris"}, "async": True}, format="json"
    )

    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job_id"])
    assert (job.kind, job.status) == (Job.Kind.EVALUATE, Job.Status.QUEUED)
    assert not Run.objects.filter(kind=Run.Kind.EVAL).exists()
    assert eval_runs_in_mlflow() == before


@runs_jobs
@pytest.mark.parametrize("not_waiting", ["wait_s_0", "async"])
def test_an_evaluation_past_the_wait_is_202_with_its_job_which_finishes(api_client, iris_model, settings, not_waiting):
    body = {"model_name": MODEL, "data": {"builtin": "iris"}}
    if not_waiting == "async":
        body["async"] = True
    else:
        settings.MLSERVICE_EVALUATE_WAIT_S = 0

    response = api_client.post("/evaluate", body, format="json")

    assert response.status_code == 202, response.content
    queued = response.json()
    assert response["Location"] == f"/jobs/{queued['job_id']}"
    assert queued["kind"] == "evaluate"
    finished = job_finished(api_client, response["Location"])
    assert finished["status"] == "succeeded", finished
    result = finished["result"]
    assert (result["status"], result["rows"], result["model_name"]) == ("success", 150, MODEL)
    assert result["metrics"]["accuracy"] > 0.8
    assert Run.objects.get(run_name=result["run_name"]).job_id is not None


@runs_jobs
@pytest.mark.parametrize(
    ("data", "target", "field"),
    [
        ({"builtin": "iris"}, "nope", "target"),  # the target column isn't in the rows
        ({"builtin": "wine"}, "target", "missing_columns"),  # the rows don't have the model's columns
    ],
)
def test_an_evaluation_that_fails_answers_the_jobs_error_with_its_status(api_client, iris_model, data, target, field):
    response = api_client.post("/evaluate", {"model_name": MODEL, "data": data, "target": target}, format="json")

    body = assert_failed(response, 400, "invalid_input")
    assert field in body["error"]["details"]
    job = Job.objects.get(kind=Job.Kind.EVALUATE)
    assert (job.status, job.error_status, job.error) == (Job.Status.FAILED, 400, body)


@runs_jobs
def test_evaluate_an_uploaded_csv(api_client, iris_model):
    upload = io.BytesIO(load_iris(as_frame=True).frame.to_csv(index=False).encode())
    upload.name = "iris.csv"

    response = api_client.post("/evaluate", {"model_name": MODEL, "file": upload}, format="multipart")

    assert response.status_code == 200, response.content
    assert response.json()["rows"] == 150
    assert Job.objects.get(kind=Job.Kind.EVALUATE).payload["data"]["uri"].startswith("uploads/")


@runs_jobs
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


@runs_jobs
@pytest.mark.usefixtures("flush_infer_runs")
def test_evaluate_on_stored_predictions_with_ground_truth(api_client, iris_model):
    records = iris_records()
    features = [{k: v for k, v in row.items() if k != "target"} for row in records]
    served = api_client.post("/inference", {"model_name": MODEL, "dataframe_records": features}, format="json").json()
    feedback = [
        {"prediction_id": pid, "ground_truth": row["target"]}
        for pid, row in zip(served["prediction_ids"], records, strict=True)
    ]
    api_client.post("/predictions/feedback", feedback[:100], format="json")

    # The period goes to the job as text and back (a job's payload is JSON).
    period = {"since": "2000-01-01T00:00:00Z", "until": "2999-01-01T00:00:00+02:00"}
    body = api_client.post("/evaluate", {"model_name": MODEL, "source": "predictions", **period}, format="json").json()

    assert body["status"] == "success", body
    assert body["rows"] == 100
    expected = sum(p == row["target"] for p, row in zip(served["predictions"][:100], records[:100], strict=True)) / 100
    assert body["metrics"]["accuracy"] == pytest.approx(expected)
    before = {"model_name": MODEL, "source": "predictions", "until": "2000-01-01T00:00:00Z"}
    assert api_client.post("/evaluate", before, format="json").json()["status"] == "insufficient_data"


@runs_jobs
def test_evaluate_on_predictions_without_ground_truth_is_insufficient_data(api_client, iris_model):
    Prediction.objects.filter(model_name=MODEL).update(ground_truth=None, ground_truth_at=None)

    body = api_client.post("/evaluate", {"model_name": MODEL, "source": "predictions"}, format="json").json()

    assert body["status"] == "insufficient_data"
    assert body["rows"] == 0


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"model_name": MODEL}, 400, "data"),
        ({"model_name": MODEL, "data": {"rows": []}}, 400, "data.rows"),
        ({"model_name": MODEL, "data": {"builtin": "nope"}}, 400, "data.builtin"),
        ({"model_name": MODEL, "data": {"uri": "2026/no-such-file.csv"}}, 400, "data.uri"),
        ({"model_name": MODEL, "data": {"query": {"source": "nope", "name": "q"}}}, 400, "data.query.source"),
        ({"model_name": "no-such-model", "data": {"builtin": "iris"}}, 404, None),
        ({"model_name": MODEL, "model_version": "99", "data": {"builtin": "iris"}}, 404, None),
        ({"model_name": MODEL, "alias": "no-such-alias", "data": {"builtin": "iris"}}, 404, None),
    ],
)
def test_evaluate_bad_requests_are_answered_before_any_job(api_client, iris_model, body, status, field):
    failed = assert_failed(api_client.post("/evaluate", body, format="json"), status)

    if field:
        assert field in failed["error"]["details"]
    assert not Job.objects.exists()


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


@runs_jobs
def test_evaluation_with_mlflow_down_is_503_and_its_run_row_keeps_the_error(api_client, iris_model):
    # No explicit version: the request resolves "production" from its cache, so the job gets to its run.
    body = {"model_name": MODEL, "data": {"builtin": "iris"}}
    assert api_client.post("/evaluate", body, format="json").status_code == 200  # resolved and loaded: cached

    with override_settings(MLFLOW_TRACKING_URI=closed_port_url()):
        response = api_client.post("/evaluate", body, format="json")

    failed = assert_failed(response, 503, "dependency_unavailable")
    assert failed["error"]["details"]["dependency"] == "mlflow"
    run = Run.objects.get(run_name=failed["run_name"])
    assert run.status == Run.Status.FAILED
    assert "mlflow" in run.error
    assert Job.objects.get(pk=run.job_id).error_status == 503


def test_an_explicit_version_with_mlflow_down_is_503_before_any_job(api_client, iris_model):
    body = {"model_name": MODEL, "model_version": iris_model["model_version"], "data": {"builtin": "iris"}}

    with override_settings(MLFLOW_TRACKING_URI=closed_port_url()):
        response = api_client.post("/evaluate", body, format="json")

    failed = assert_failed(response, 503, "dependency_unavailable")
    assert failed["error"]["details"]["dependency"] == "mlflow"
    assert not Job.objects.exists()
