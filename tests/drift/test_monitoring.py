"""Drift monitoring from inference: checks off the request path over the latest stored inputs."""

from __future__ import annotations

import pytest
from django.test import override_settings

from drift.clients import calculator_cache
from drift.models import DriftEvent
from drift.monitoring import drift_status_forget, monitor
from drift.services import drift_check_version
from tests.drift.data import synthetic_frame
from tests.drift.test_drift_api import MODEL, records, store_inputs


def infer(client, rows: list[dict]) -> dict:
    response = client.post("/inference", {"model_name": MODEL, "dataframe_records": rows}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flush_infer_runs")
@override_settings(
    MLSERVICE_DRIFT_MONITOR_ENABLED=True,
    MLSERVICE_DRIFT_MONITOR_EVERY_N=300,
    MLSERVICE_DRIFT_MONITOR_WINDOW=300,
    MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S=0,
)
def test_every_n_predictions_a_monitoring_check_runs_and_inference_reports_it(api_client, synthetic_model):
    shifted = synthetic_frame(600, seed=60, shift={"x5": 1.5}).drop(columns=["target"]).to_dict(orient="records")
    first = infer(api_client, shifted[:200])
    assert first["drift"] == {"status": "not_checked"}
    assert not DriftEvent.objects.filter(trigger=DriftEvent.Trigger.MONITORING, registered_model_name=MODEL).exists()

    infer(api_client, shifted[200:400])
    assert monitor.wait_idle(timeout=60)

    event = DriftEvent.objects.get(trigger=DriftEvent.Trigger.MONITORING, registered_model_name=MODEL)
    assert event.model_version == synthetic_model["model_version"]
    assert event.subject_rows == 300
    assert event.alerted_columns == ["x5"]
    drift_status_forget()
    block = infer(api_client, shifted[400:410])["drift"]
    assert block["status"] == "drift_detected"
    assert block["event_id"] == event.id
    assert block["alerted_columns"] == ["x5"]


@pytest.mark.django_db
# The fitted reference belongs to the distance path: make 300 rows a large sample.
@override_settings(MLSERVICE_DRIFT_DISTANCE_MIN_ROWS=300)
def test_the_reference_is_fitted_once_per_version_and_reused(synthetic_model):
    calculator_cache.clear()
    version = synthetic_model["model_version"]
    store_inputs(version, records(300, 61))

    drift_check_version(model_name=MODEL, model_version=version, window=300, trigger=DriftEvent.Trigger.COMMAND)
    fitted = list(calculator_cache._items.values())
    drift_check_version(model_name=MODEL, model_version=version, window=300, trigger=DriftEvent.Trigger.COMMAND)

    assert len(fitted) == 1
    assert list(calculator_cache._items.values()) == fitted
