"""Prometheus metrics at /metrics, in one process and merged across gunicorn workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from tests.drift.test_drift_api import MODEL, records
from tests.utils import free_port

pytestmark = pytest.mark.django_db


def metric(text: str, name: str, **labels: str) -> float | None:
    """Return the value of one sample of the exposition ``text``."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_need_a_token(anonymous_client):
    assert anonymous_client.get("/metrics").status_code == 401


@override_settings(MLSERVICE_METRICS_PUBLIC=True)
def test_metrics_can_be_public(anonymous_client):
    assert anonymous_client.get("/metrics").status_code == 200


@pytest.mark.usefixtures("runs_jobs")
def test_drift_and_prediction_metrics_after_a_check_and_predictions(api_client, synthetic_model):
    version = synthetic_model["model_version"]
    api_client.post(
        "/data-drift",
        {"model_name": MODEL, "data": {"dataframe_records": records(1000, 70, shift={"x0": 1.0})}},
        format="json",
    )
    api_client.post("/inference", {"model_name": MODEL, "dataframe_records": records(3, 71)}, format="json")

    text = api_client.get("/metrics").content.decode()

    labels = {"model_name": MODEL, "model_version": version}
    assert metric(text, "mlservice_drift_feature_alert", **labels, feature="x0") == 1.0
    assert metric(text, "mlservice_drift_feature_alert", **labels, feature="x1") == 0.0
    assert metric(text, "mlservice_drift_detected", **labels) == 1.0
    assert metric(text, "mlservice_drift_drifted_share", **labels) == pytest.approx(1 / 7)
    assert metric(text, "mlservice_drift_last_check_timestamp_seconds", **labels) > time.time() - 600
    assert metric(text, "mlservice_predictions_total", **labels) >= 3
    assert metric(text, "mlservice_http_requests_total", endpoint="inference", method="POST", status="200") >= 1
    assert "request_id" not in text


def test_prediction_and_multivariate_drift_of_a_monitoring_check_are_gauges(api_client, synthetic_model):
    from drift.models import DriftEvent
    from drift.services import drift_check_version
    from tests.drift.test_drift_api import store_inputs

    version = synthetic_model["model_version"]
    store_inputs(version, records(1000, 73, shift={"x0": 1.0}))
    event = drift_check_version(model_name=MODEL, model_version=version, window=1000,
                                trigger=DriftEvent.Trigger.MONITORING)  # fmt: skip

    text = api_client.get("/metrics").content.decode()

    labels = {"model_name": MODEL, "model_version": version}
    outputs, joint = event.prediction_drift, event.multivariate
    assert outputs["alert"] is True
    assert metric(text, "mlservice_prediction_drift_value", **labels, method=outputs["method"]) == pytest.approx(
        outputs["value"]
    )
    assert metric(text, "mlservice_prediction_drift_alert", **labels) == 1.0
    assert joint["value"] is not None
    assert metric(text, "mlservice_multivariate_drift_value", **labels) == pytest.approx(joint["value"])
    assert metric(text, "mlservice_multivariate_drift_lower", **labels) == pytest.approx(joint["lower"])
    assert metric(text, "mlservice_multivariate_drift_upper", **labels) == pytest.approx(joint["upper"])
    assert metric(text, "mlservice_multivariate_drift_alert", **labels) == float(joint["alert"])


@pytest.mark.django_db(transaction=True)
def test_counters_are_merged_across_gunicorn_workers(api_client, synthetic_model, tmp_path):
    token = api_client._credentials["HTTP_AUTHORIZATION"]
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlservice.settings",
        "DATABASE_URL": _database_url(),
        "MLFLOW_TRACKING_URI": settings.MLFLOW_TRACKING_URI,
        "MLSERVICE_VAR_DIR": str(settings.VAR_DIR),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "MLSERVICE_DRIFT_MONITOR_ENABLED": "false",
    }
    config = Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", str(config), "mlservice.wsgi:application"],
        env=env, cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_until_up(port)
        served = sum(_post(port, token, {"model_name": MODEL, "dataframe_records": records(2, 72)}) for _ in range(12))
        text = _get(port, token, "/metrics")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        connection.close()

    total = metric(
        text, "mlservice_predictions_total", model_name=MODEL, model_version=synthetic_model["model_version"]
    )
    assert served == total == 24
    assert len(re.findall(r'mlservice_http_requests_total\{.*endpoint="inference"', text)) >= 1


def _database_url() -> str:
    database = connection.settings_dict
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def _wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not start")


def _post(port: int, token: str, body: dict) -> int:
    import json

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/inference", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": token, "Connection": "close"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return len(json.loads(response.read())["prediction_ids"])


def _get(port: int, token: str, path: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": token})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()
