"""What a check says about the model: performance estimated without labels (nannyml CBPE and DLE), the drift
of its outputs, and multivariate drift; on real nannyml, a real MLflow store and tiny models."""

from __future__ import annotations

import uuid
from io import StringIO
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from mlflow import MlflowClient
from sklearn.metrics import accuracy_score, mean_absolute_error

from drift import clients
from drift.models import DriftEvent
from drift.services import drift_check_version
from predictions.models import Prediction
from registry.models import Run
from registry.serving import predict, served_model_get
from tests.conftest import SessionModel, restored, session_model
from tests.drift.data import synthetic_frame
from tests.drift.test_drift_api import MODEL, records
from tests.mlservice.test_metrics import metric

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("runs_jobs")]

LOGISTIC = "drift-synth-logit"
MULTICLASS = "drift-synth-3"
REGRESSOR = "drift-synth-reg"


def noisy_binary_frame(rows: int, seed: int, *, scale: float = 1.0) -> pd.DataFrame:
    """Return synthetic rows whose label is drawn with P(y=1) = sigmoid(3 (x0 + x1)); ``scale`` < 1 crowds
    the rows toward the boundary x0 + x1 = 0, a covariate shift that costs any model accuracy."""
    frame = synthetic_frame(rows, seed=seed)
    frame[["x0", "x1"]] *= scale
    chance = 1 / (1 + np.exp(-3 * (frame["x0"] + frame["x1"])))
    frame["target"] = (np.random.default_rng(seed + 1).random(rows) < chance).astype(int)
    return frame


def multiclass_frame(rows: int, seed: int, **shift: Any) -> pd.DataFrame:
    frame = synthetic_frame(rows, seed=seed, **shift)
    frame["target"] = np.digitize(frame["x0"] + frame["x1"], [-0.7, 0.7])
    return frame


def regression_frame(rows: int, seed: int, **shift: Any) -> pd.DataFrame:
    frame = synthetic_frame(rows, seed=seed, **shift)
    noise = np.random.default_rng(seed + 1).normal(scale=0.5, size=rows)
    frame["target"] = 2 * frame["x0"] + frame["x1"] - frame["x2"] + (frame["colour"] == "red") + noise
    return frame


def _train(model_name: str, frame: pd.DataFrame, estimator: str, params: dict[str, Any], blocker: Any) -> SessionModel:
    from models_api.services import TrainingSpec

    spec = TrainingSpec(
        model_name=model_name, data={"dataframe_split": frame.to_dict(orient="split", index=False)},
        estimator=estimator, params=params, drift_sample_fraction=0.3,
    )  # fmt: skip
    return session_model(spec, blocker)


@pytest.fixture(scope="session")
def _logistic(django_db_setup: None, django_db_blocker: Any) -> SessionModel:
    return _train(LOGISTIC, noisy_binary_frame(6000, seed=5), "LogisticRegression", {}, django_db_blocker)


@pytest.fixture(scope="session")
def _multiclass(django_db_setup: None, django_db_blocker: Any) -> SessionModel:
    return _train(MULTICLASS, multiclass_frame(4000, seed=3), "RandomForestClassifier",
                  {"n_estimators": 10, "max_depth": 5}, django_db_blocker)  # fmt: skip


@pytest.fixture(scope="session")
def _regressor(django_db_setup: None, django_db_blocker: Any) -> SessionModel:
    return _train(REGRESSOR, regression_frame(3000, seed=4), "RandomForestRegressor",
                  {"n_estimators": 10, "max_depth": 6}, django_db_blocker)  # fmt: skip


@pytest.fixture
def logistic_model(_logistic: SessionModel, django_db_blocker: Any) -> dict[str, Any]:
    """A logistic regression on 6,000 rows with noisy labels, with a 1,800-row drift sample."""
    return restored(_logistic, django_db_blocker)


@pytest.fixture
def multiclass_model(_multiclass: SessionModel, django_db_blocker: Any) -> dict[str, Any]:
    """A tiny forest on 4,000 rows of three classes, with a 1,200-row drift sample."""
    return restored(_multiclass, django_db_blocker)


@pytest.fixture
def regressor_model(_regressor: SessionModel, django_db_blocker: Any) -> dict[str, Any]:
    """A tiny forest regressor on 3,000 rows, with a 900-row drift sample."""
    return restored(_regressor, django_db_blocker)


def check(client: Any, model_name: str, frame: pd.DataFrame, **body: Any) -> dict[str, Any]:
    response = client.post(
        "/data-drift", {"model_name": model_name, "data": {"dataframe_records": frame.to_dict(orient="records")},
                        **body}, format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    return response.json()


def predictions_of(model_name: str, version: str, frame: pd.DataFrame) -> np.ndarray:
    model = served_model_get(name=model_name, version=version)
    predicted, _ = predict(model, frame[list(model.columns)], probabilities=False)
    return predicted


# --- Estimated performance ------------------------------------------------------------------------


def test_binary_estimate_on_a_same_distribution_window_is_within_003_of_the_labels(api_client, synthetic_model):
    frame = synthetic_frame(2000, seed=80)
    labels_accuracy = accuracy_score(frame["target"], predictions_of(MODEL, synthetic_model["model_version"], frame))

    estimate = check(api_client, MODEL, frame.drop(columns=["target"]))["estimated_performance"]

    assert estimate["metric"] == "accuracy"
    assert estimate["method"] == "cbpe"
    assert estimate["reason"] == ""
    assert abs(estimate["value"] - labels_accuracy) <= 0.03
    assert estimate["lower"] < estimate["value"] < estimate["upper"]
    assert estimate["reference_lower"] < estimate["reference_value"] < estimate["reference_upper"]
    assert estimate["alert"] is False
    assert set(estimate["metrics"]) == {"roc_auc", "f1"}
    assert all(entry["value"] is not None and entry["alert"] is False for entry in estimate["metrics"].values())
    # No labels in the data, no feedback: no realized value.
    assert estimate["labelled_rows"] == 0
    assert estimate["realized"] is None


def test_labels_in_the_data_give_the_realized_value_beside_the_estimate(api_client, logistic_model):
    frame = noisy_binary_frame(1000, seed=81)
    labels_accuracy = accuracy_score(frame["target"], predictions_of(LOGISTIC, logistic_model["model_version"], frame))

    estimate = check(api_client, LOGISTIC, frame)["estimated_performance"]

    assert estimate["labelled_rows"] == 1000
    assert estimate["realized"] == pytest.approx(labels_accuracy)
    assert abs(estimate["value"] - estimate["realized"]) <= 0.03
    assert estimate["alert"] is False


def test_multiclass_estimate_is_within_003_of_the_labels(api_client, multiclass_model):
    frame = multiclass_frame(2000, seed=82)
    labels_accuracy = accuracy_score(
        frame["target"], predictions_of(MULTICLASS, multiclass_model["model_version"], frame)
    )

    estimate = check(api_client, MULTICLASS, frame)["estimated_performance"]

    assert estimate["method"] == "cbpe"
    assert abs(estimate["value"] - labels_accuracy) <= 0.03
    assert estimate["realized"] == pytest.approx(labels_accuracy)
    assert estimate["metrics"]["roc_auc"]["value"] > 0.5
    assert estimate["alert"] is False


def test_a_window_crowding_the_boundary_gets_a_lower_estimate_and_an_alert(api_client, logistic_model):
    frame = noisy_binary_frame(2000, seed=83, scale=0.25)

    estimate = check(api_client, LOGISTIC, frame)["estimated_performance"]

    assert estimate["value"] < estimate["reference_lower"]
    assert estimate["alert"] is True
    # The labels dropped below the reference band too, and the estimate follows them: a logistic model's
    # probabilities stay nearly calibrated under this shift (here 0.03 below the labels; bench/estimate_quality.py).
    assert estimate["realized"] < estimate["reference_lower"]
    assert abs(estimate["value"] - estimate["realized"]) <= 0.05


def test_a_thirty_row_window_still_gets_an_estimate(api_client, synthetic_model):
    estimate = check(api_client, MODEL, synthetic_frame(30, seed=84).drop(columns=["target"]))["estimated_performance"]

    assert estimate["value"] is not None
    assert estimate["rows"] == 30
    # nannyml's thresholds are set on chunks of 600 rows: too narrow for 30, so only the reference band counts.
    assert estimate["chunk_size"] == 600
    assert estimate["reference_upper"] - estimate["reference_lower"] > 0.2


def test_below_thirty_rows_the_estimate_says_why(api_client, synthetic_model):
    body = check(api_client, MODEL, synthetic_frame(20, seed=85).drop(columns=["target"]))

    assert body["status"] == "insufficient_data"
    assert body["estimated_performance"]["value"] is None
    assert "at least 30 rows" in body["estimated_performance"]["reason"]


def test_a_drift_sample_too_small_to_estimate_says_why(api_client, iris_model):
    body = api_client.post(
        "/data-drift", {"model_name": "iris-served", "data": {"builtin": "iris"}}, format="json"
    ).json()

    estimate = body["estimated_performance"]
    assert estimate["value"] is None
    assert "labelled rows; an estimate needs at least 180" in estimate["reason"]


def test_a_regressor_gets_dle_with_mae_and_rmse(api_client, regressor_model):
    frame = regression_frame(1500, seed=86)
    labels_mae = mean_absolute_error(
        frame["target"], predictions_of(REGRESSOR, regressor_model["model_version"], frame)
    )

    body = check(api_client, REGRESSOR, frame)
    estimate = body["estimated_performance"]

    assert estimate["method"] == "dle"
    assert estimate["metric"] == "mae"
    assert set(estimate["metrics"]) == {"rmse"}
    assert estimate["value"] > 0
    assert estimate["metrics"]["rmse"]["value"] >= estimate["value"]
    assert estimate["realized"] == pytest.approx(labels_mae)
    assert abs(estimate["value"] - labels_mae) <= 0.1 * labels_mae
    assert estimate["alert"] is False
    assert body["prediction_drift"]["method"] == "ks_test"


def test_no_model_means_no_estimate_and_no_prediction_drift(api_client):
    body = api_client.post(
        "/data-drift",
        {"data": {"dataframe_records": synthetic_frame(400, seed=87).to_dict(orient="records")},
         "baseline": {"dataframe_records": synthetic_frame(400, seed=88).to_dict(orient="records")}},
        format="json",
    ).json()  # fmt: skip

    assert body["estimated_performance"] is None
    assert body["prediction_drift"] is None


def test_a_given_baseline_still_estimates_against_the_versions_drift_sample(api_client, synthetic_model):
    body = check(api_client, MODEL, synthetic_frame(500, seed=89), baseline={
        "dataframe_records": synthetic_frame(500, seed=90).drop(columns=["target"]).to_dict(orient="records")
    })  # fmt: skip

    assert body["baseline"]["kind"] == "dataset"
    assert body["estimated_performance"]["value"] is not None
    assert body["prediction_drift"]["alert"] is False


# --- Prediction drift -----------------------------------------------------------------------------


def test_prediction_drift_flags_shifted_outputs_and_not_fresh_ones(api_client, synthetic_model):
    fresh = check(api_client, MODEL, synthetic_frame(1000, seed=91).drop(columns=["target"]))
    shifted = check(api_client, MODEL, synthetic_frame(1000, seed=92, shift={"x0": 1.5}).drop(columns=["target"]))

    assert fresh["prediction_drift"]["method"] == "chi2_test"
    assert fresh["prediction_drift"]["alert"] is False
    assert shifted["prediction_drift"]["alert"] is True
    assert shifted["prediction_drift"]["p_value"] < 0.001


def test_prediction_drift_is_reported_but_not_counted_in_the_verdict(api_client, regressor_model):
    # Shift the inputs the regressor leans on through x0 only: a feature alert, and a prediction alert on its own row.
    body = check(api_client, REGRESSOR, regression_frame(800, seed=93, shift={"x0": 1.0}).drop(columns=["target"]))

    assert body["prediction_drift"]["alert"] is True
    assert [f["column"] for f in body["features"] if f["alert"]] == ["x0"]
    assert body["drifted_share"] == pytest.approx(1 / 7)


# --- Multivariate drift ---------------------------------------------------------------------------


def test_multivariate_drift_on_a_large_baseline(api_client, synthetic_model):
    fresh = check(api_client, MODEL, synthetic_frame(1000, seed=94).drop(columns=["target"]))["multivariate"]
    tied = synthetic_frame(1000, seed=95).drop(columns=["target"])
    # The same marginals, a new structure: x1 now follows x0 (each column alone is still standard normal).
    tied["x1"] = tied["x0"]
    changed = check(api_client, MODEL, tied)

    assert fresh["method"] == "pca_reconstruction"
    assert fresh["lower"] <= fresh["value"] <= fresh["upper"]
    assert fresh["alert"] is False
    assert changed["multivariate"]["alert"] is True
    assert not any(f["alert"] for f in changed["features"] if f["column"] == "x1")


def test_multivariate_drift_on_a_small_baseline_is_null_with_the_reason(api_client):
    body = api_client.post(
        "/data-drift",
        {"data": {"dataframe_records": records(300, 96)}, "baseline": {"dataframe_records": records(300, 97)}},
        format="json",
    ).json()

    # 7 columns: chunks of int(20 * 7 ** (5 / 6)) = 101 rows, 6 of them on half the baseline.
    assert body["status"] == "success"
    assert body["multivariate"]["value"] is None
    assert "needs at least 1212" in body["multivariate"]["reason"]


# --- Monitoring, the command, caching -------------------------------------------------------------


def store(model_version: str, frame: pd.DataFrame, feedback_rows: int) -> None:
    """Store ``frame``'s inputs as predictions of the synthetic model, the first rows with their ground truth."""
    request_id = uuid.uuid4()
    inputs = frame.drop(columns=["target"]).to_dict(orient="records")
    Prediction.objects.bulk_create(
        Prediction(model_name=MODEL, model_version=model_version, request_id=request_id, row_index=index,
                   inputs=row, prediction=0,
                   ground_truth=int(frame["target"].iloc[index]) if index < feedback_rows else None)
        for index, row in enumerate(inputs)
    )  # fmt: skip


def test_a_monitoring_window_with_feedback_gets_the_realized_value(synthetic_model):
    version = synthetic_model["model_version"]
    frame = synthetic_frame(500, seed=98)
    store(version, frame, feedback_rows=200)
    # Newest first: the window's labelled rows are the first 200 stored, its last 200 rows.
    labelled = frame.iloc[:200]
    labels_accuracy = accuracy_score(labelled["target"], predictions_of(MODEL, version, labelled))

    event = drift_check_version(model_name=MODEL, model_version=version, window=500,
                                trigger=DriftEvent.Trigger.MONITORING)  # fmt: skip

    assert event.estimated_performance["labelled_rows"] == 200
    assert event.estimated_performance["realized"] == pytest.approx(labels_accuracy)
    assert event.estimated_performance["value"] is not None


def test_the_command_prints_the_estimate_and_the_signals(synthetic_model):
    store(synthetic_model["model_version"], synthetic_frame(500, seed=99), feedback_rows=0)
    out = StringIO()

    call_command("check_drift", "--model", MODEL, "--window", "500", stdout=out)

    summary = out.getvalue()
    assert "estimated accuracy" in summary
    assert "estimated roc_auc" in summary
    assert "prediction drift" in summary
    assert "multivariate" in summary


def test_outputs_on_the_drift_sample_and_the_fitted_estimator_are_cached_per_version(api_client, synthetic_model):
    clients.estimator_cache.clear()
    check(api_client, MODEL, synthetic_frame(300, seed=100).drop(columns=["target"]))
    cached = dict(clients.estimator_cache._items)

    check(api_client, MODEL, synthetic_frame(300, seed=101).drop(columns=["target"]))

    kinds = sorted(key[0] for key in cached)
    assert kinds == ["outputs", "performance", "reconstruction"]
    assert all(clients.estimator_cache._items[key] is value for key, value in cached.items())
    assert len(clients.estimator_cache._items) == len(cached)


# --- Where the estimate shows: event, MLflow run, report, admin, metrics --------------------------


def test_the_event_run_report_admin_and_metrics_show_the_estimate(api_client, logistic_model):
    body = check(api_client, LOGISTIC, noisy_binary_frame(1000, seed=102, scale=0.25).drop(columns=["target"]))
    estimate = body["estimated_performance"]
    event = DriftEvent.objects.get(pk=body["event_id"])

    assert event.estimated_performance == estimate
    assert event.prediction_drift == body["prediction_drift"]
    assert event.multivariate == body["multivariate"]
    run = MlflowClient().get_run(Run.objects.get(run_name=body["run_name"]).mlflow_run_id)
    assert run.data.metrics["estimated_accuracy.value"] == pytest.approx(estimate["value"])
    assert run.data.metrics["estimated_accuracy.alert"] == 1.0
    assert "estimated_roc_auc.value" in run.data.metrics
    assert "prediction_drift.p_value" in run.data.metrics

    report = api_client.get(f"/drift-events/{event.id}/report").content.decode()
    assert "Estimated performance" in report
    assert 'aria-label="accuracy estimate against its reference band"' in report
    assert 'class="refband"' in report
    assert "prediction drift" in report

    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser(username="ops-est", password="pw-ops-12345"))
    detail = browser.get(reverse("admin:drift_driftevent_change", args=[event.id])).content.decode()
    assert "Estimated performance" in detail
    assert "<td>roc_auc</td>" in detail
    assert "PCA reconstruction error" in detail

    text = api_client.get("/metrics").content.decode()
    labels = {"model_name": LOGISTIC, "model_version": logistic_model["model_version"]}
    assert metric(text, "mlservice_estimated_performance", **labels, metric="accuracy") == estimate["value"]
    assert metric(text, "mlservice_estimated_performance_alert", **labels, metric="accuracy") == 1.0
    reference_f1 = estimate["metrics"]["f1"]["reference_value"]
    assert metric(text, "mlservice_estimated_performance_reference", **labels, metric="f1") == reference_f1
