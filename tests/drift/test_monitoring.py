"""Drift monitoring: web workers count and enqueue, a real Celery worker checks, one check per interval."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from celery import current_app
from django.conf import settings
from django.test import override_settings

from drift.clients import calculator_cache
from drift.models import DriftEvent, VersionMonitor
from drift.monitoring import DriftMonitor, drift_status_forget, monitoring_check_claim
from drift.services import drift_check_version
from drift.tasks import drift_monitoring_sweep
from predictions.selectors import latest_prediction_id
from tests.drift.data import synthetic_frame
from tests.drift.test_drift_api import MODEL, records, store_inputs
from tests.models_api.test_jobs import queue, worker  # noqa: F401 (fixtures: a real worker on the test queue)

MONITORING = {"MLSERVICE_DRIFT_MONITOR_ENABLED": True, "MLSERVICE_DRIFT_MONITOR_EVERY_N": 300}


def infer(client, rows: list[dict]) -> dict:
    response = client.post("/inference", {"model_name": MODEL, "dataframe_records": rows}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def monitoring_events(version: str) -> list[DriftEvent]:
    return list(DriftEvent.objects.filter(trigger=DriftEvent.Trigger.MONITORING, registered_model_name=MODEL,
                                          model_version=version))  # fmt: skip


def wait_for_events(version: str, count: int, timeout: float = 120) -> list[DriftEvent]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(events := monitoring_events(version)) >= count:
            return events
        time.sleep(0.5)
    raise AssertionError(f"{len(monitoring_events(version))} monitoring checks of v{version}, expected {count}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flush_infer_runs", "worker")
@override_settings(**MONITORING, MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S=0)
def test_every_n_predictions_a_worker_checks_and_inference_reports_it(api_client, synthetic_model):
    version = synthetic_model["model_version"]
    VersionMonitor.objects.filter(registered_model_name=MODEL).delete()
    shifted = synthetic_frame(600, seed=60, shift={"x5": 1.5}).drop(columns=["target"]).to_dict(orient="records")
    first = infer(api_client, shifted[:200])
    assert first["drift"] == {"status": "not_checked"}
    assert monitoring_events(version) == []

    infer(api_client, shifted[200:400])

    [event] = wait_for_events(version, 1)
    assert event.subject_rows == 400  # every stored input: the worker's window is 1,000
    assert event.alerted_columns == ["x5"]
    drift_status_forget()
    block = infer(api_client, shifted[400:410])["drift"]
    assert block["status"] == "drift_detected"
    assert block["event_id"] == event.id
    assert block["alerted_columns"] == ["x5"]


@pytest.fixture
def purge_queue() -> Iterator[None]:
    """Drop what a test enqueued without a worker to run it."""
    yield
    current_app.control.purge()


@pytest.mark.django_db
@pytest.mark.usefixtures("purge_queue")
@override_settings(**MONITORING, MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S=600)
def test_two_web_workers_reaching_n_enqueue_one_check_per_interval(synthetic_model):
    version = synthetic_model["model_version"]
    VersionMonitor.objects.filter(registered_model_name=MODEL).delete()
    # Two processes' counters: the claim they race for is the shared database row.
    first, second = DriftMonitor(), DriftMonitor()

    enqueued = [
        monitor.predictions_stored(model_name=MODEL, model_version=version, rows=300) for monitor in (first, second)
    ]

    assert enqueued == [True, False]
    assert VersionMonitor.objects.get(registered_model_name=MODEL, model_version=version).last_check_at is not None


@pytest.mark.django_db
@override_settings(**MONITORING, MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S=600)
def test_the_claim_is_won_once_per_interval(synthetic_model):
    version = synthetic_model["model_version"]

    claims = [monitoring_check_claim(model_name=MODEL, model_version=f"{version}0{n % 2}") for n in range(4)]

    assert claims == [True, True, False, False]


@pytest.mark.django_db
@pytest.mark.usefixtures("purge_queue")
@override_settings(**MONITORING, MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S=0)
def test_the_schedule_checks_versions_with_new_predictions_only(synthetic_model):
    version = synthetic_model["model_version"]
    VersionMonitor.objects.filter(registered_model_name=MODEL).delete()
    VersionMonitor.objects.create(registered_model_name=MODEL, model_version=version)
    store_inputs(version, records(200, 63))

    assert drift_monitoring_sweep() == 1
    newest = latest_prediction_id(model_name=MODEL, model_version=version)
    VersionMonitor.objects.filter(registered_model_name=MODEL).update(last_prediction_id=newest)
    assert drift_monitoring_sweep() == 0

    store_inputs(version, records(50, 64))
    assert drift_monitoring_sweep() == 1


def test_the_web_process_never_imports_nannyml(tmp_path):
    code = (
        "import django, sys; django.setup();"
        "from django.urls import resolve; import mlservice.urls, mlservice.wsgi;"
        "resolve('/inference'); resolve('/data-drift'); import drift.monitoring;"
        "print('nannyml' in sys.modules, 'mlflow.sklearn' in sys.modules)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "mlservice.settings", "MLSERVICE_VAR_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}  # fmt: skip

    result = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True,
                            text=True, timeout=120, check=True)  # fmt: skip

    assert result.stdout.split()[-2:] == ["False", "False"], result.stderr[-2000:]


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
