"""Drift monitoring: web workers count and enqueue, a real Celery worker checks, one check per interval."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from drift import clients, estimates
from drift.clients import calculator_cache, estimator_cache
from drift.models import DriftEvent, DriftSample, VersionMonitor
from drift.monitoring import DriftMonitor, drift_status_forget, monitoring_check_claim
from drift.services import drift_check_version
from drift.tasks import drift_monitoring_check, drift_monitoring_sweep
from predictions.selectors import latest_prediction_id
from registry.clients import mlflow_setup
from tests.drift.data import synthetic_frame
from tests.drift.test_drift_api import MODEL, records, store_inputs
from tests.models_api.test_jobs import queue, worker  # noqa: F401 (fixtures: a real worker)
from tests.utils import free_port
from tests.workers import process_stop, worker_environment

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


@pytest.fixture
def synthetic_sample(synthetic_model: dict[str, Any]) -> DriftSample:
    """The session model's drift sample row (the fixture writes it back after a transactional test's flush)."""
    return DriftSample.objects.get(pk=synthetic_model["drift_sample_id"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flush_infer_runs", "worker", "synthetic_sample")
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
@pytest.mark.usefixtures("purge_queue")
@override_settings(**MONITORING, MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S=600)
def test_a_web_worker_asks_for_the_claim_only_when_it_may_be_won(synthetic_model, django_assert_num_queries):
    version = synthetic_model["model_version"]
    VersionMonitor.objects.filter(registered_model_name=MODEL).delete()
    winner, loser = DriftMonitor(), DriftMonitor()
    assert winner.predictions_stored(model_name=MODEL, model_version=version, rows=300) is True
    assert loser.predictions_stored(model_name=MODEL, model_version=version, rows=300) is False

    # Both are past N again within the interval: the winner knows its claim holds for the interval, the
    # loser that another's does (it asks again after a tenth of it); neither touches the database.
    for monitor in (winner, loser):
        with django_assert_num_queries(0):
            assert monitor.predictions_stored(model_name=MODEL, model_version=version, rows=300) is False

    with override_settings(MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S=0):
        VersionMonitor.objects.filter(registered_model_name=MODEL).update(last_check_at=None)
        loser.forget()  # a new counter and no memory of the claim: it asks, and wins now
        assert loser.predictions_stored(model_name=MODEL, model_version=version, rows=300) is True


@pytest.mark.django_db
@override_settings(**MONITORING, MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S=600)
def test_the_claim_is_won_once_per_interval(synthetic_model):
    version = synthetic_model["model_version"]

    claims = [monitoring_check_claim(model_name=MODEL, model_version=f"{version}0{n % 2}") for n in range(4)]

    assert claims == [True, True, False, False]


@pytest.mark.django_db
@override_settings(**MONITORING, MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S=600)
def test_a_replica_whose_clock_runs_ahead_still_waits_for_the_interval(monkeypatch):
    assert monitoring_check_claim(model_name=MODEL, model_version="77") is True
    # Another host's clock, an hour ahead (a fault no test can produce otherwise): the interval is the database's.
    ahead = timezone.now() + timedelta(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: ahead)

    assert monitoring_check_claim(model_name=MODEL, model_version="77") is False


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


@pytest.mark.django_db
@override_settings(**MONITORING, MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S=0)
def test_a_version_without_a_drift_sample_is_skipped_with_a_warning_until_new_predictions(caplog):
    VersionMonitor.objects.create(registered_model_name=MODEL, model_version="404")
    store_inputs("404", records(50, 69))

    assert drift_monitoring_check(MODEL, "404") is None

    assert not DriftEvent.objects.filter(registered_model_name=MODEL, model_version="404").exists()
    [warning] = [record for record in caplog.records if record.name == "drift.tasks"]
    assert warning.levelname == "WARNING"
    assert "No drift sample for drift-synth v404" in warning.getMessage()
    assert drift_monitoring_sweep() == 0


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


USAGE_AND_LOGS = """
import os
import segment.analytics as segment

sent = []
segment.track = lambda *args, **kwargs: sent.append(args[1])
segment.identify = lambda *args, **kwargs: None
import django

django.setup()
disabled = os.environ.get("NML_DISABLE_USAGE_LOGGING")
import nannyml
import nannyml.usage_logging
import numpy as np
import pandas as pd
from drift import clients

rng = np.random.default_rng(0)
proba = rng.uniform(size=600)
reference = pd.DataFrame({clients.Y_PROBA: proba, clients.Y_PRED: (proba > 0.5).astype(int),
                          clients.Y_TRUE: (rng.uniform(size=600) < proba).astype(float)})


def check():
    fitted = clients.performance_estimator_fit(reference=reference, problem_type="classification_binary",
                                               metrics=["accuracy"], chunk_size=60)
    clients.performance_estimate(fitted=fitted, subject=reference.head(100).assign(**{clients.Y_TRUE: np.nan}))


check()
quiet = len(sent)
# A real nannyml warning: a custom threshold for chi2, which nannyml ignores.
nannyml.UnivariateDriftCalculator(column_names=["a"], thresholds={"chi2": nannyml.thresholds.ConstantThreshold(1)})
# The probe's control: with usage logging on, the same check sends events.
nannyml.usage_logging.enable_usage_logging()
check()
print("RESULT", disabled, quiet, len(sent))
"""


def test_a_check_sends_no_nannyml_usage_and_logs_nannyml_warnings_but_not_its_info(tmp_path):
    # The environment of a process started without the Makefile, Dockerfile or compose file: no NML_ variable.
    env = {"DJANGO_SETTINGS_MODULE": "mlservice.settings", "MLSERVICE_VAR_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}  # fmt: skip

    result = subprocess.run([sys.executable, "-c", USAGE_AND_LOGS], cwd=settings.BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=180, check=True)  # fmt: skip

    disabled, quiet, control = result.stdout.split()[-3:]
    assert (disabled, quiet) == ("1", "0"), result.stderr[-2000:]
    assert int(control) > 0
    log = result.stderr
    assert "WARNING nannyml.base ignoring custom threshold for 'chi2'" in log
    assert "INFO nannyml" not in log


DOTENV_PROBE = """
import os

import django

django.setup()
import numpy as np
import pandas as pd
from drift import clients

frame = pd.DataFrame({"a": np.random.default_rng(0).normal(size=600)})
clients.univariate_drift(reference=frame, subject=frame.head(100), categorical=[], continuous=["a"],
                         methods={"continuous": "jensen_shannon", "categorical": "jensen_shannon"}, thresholds={},
                         chunk_size=30, reference_key=None)
after_check = os.environ.get("MLSERVICE_DOTENV_PROBE")
import dotenv

# The probe's control: the .env file is there to be found.
dotenv.load_dotenv()
print("RESULT", after_check, os.environ.get("MLSERVICE_DOTENV_PROBE"))
"""


def test_a_check_does_not_load_a_dotenv_file_into_the_process(tmp_path):
    # nannyml runs load_dotenv() at import; the service reads .env only with DJANGO_READ_DOT_ENV_FILE.
    (tmp_path / ".env").write_text("MLSERVICE_DOTENV_PROBE=loaded\n")
    env = {"DJANGO_SETTINGS_MODULE": "mlservice.settings", "MLSERVICE_VAR_DIR": str(tmp_path / "var"),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(settings.BASE_DIR),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}  # fmt: skip

    result = subprocess.run([sys.executable, "-c", DOTENV_PROBE], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=180, check=True)  # fmt: skip

    assert result.stdout.split()[-2:] == ["None", "loaded"], result.stderr[-2000:]


@pytest.mark.django_db
@pytest.mark.usefixtures("synthetic_sample")
# The fitted reference belongs to the distance path: make 300 rows a large sample.
@override_settings(MLSERVICE_DRIFT_DISTANCE_MIN_ROWS=300)
def test_the_reference_is_fitted_once_per_version_and_reused(synthetic_model):
    calculator_cache.clear()
    version = synthetic_model["model_version"]
    store_inputs(version, records(300, 61))

    drift_check_version(model_name=MODEL, model_version=version, window=300, trigger=DriftEvent.Trigger.COMMAND)
    fitted = list(calculator_cache._items.values())
    drift_check_version(model_name=MODEL, model_version=version, window=300, trigger=DriftEvent.Trigger.COMMAND)

    # One calculator for the features, one for the model's outputs.
    assert len(fitted) == 2
    assert list(calculator_cache._items.values()) == fitted


@pytest.mark.django_db
# From 300 rows on, the outputs are compared by a distance calibrated on the outputs on the drift sample.
@override_settings(MLSERVICE_DRIFT_DISTANCE_MIN_ROWS=300)
def test_a_second_check_reuses_the_outputs_on_the_drift_sample_and_their_fit(
    synthetic_model, synthetic_sample, monkeypatch
):
    calculator_cache.clear()
    estimator_cache.clear()
    version = synthetic_model["model_version"]
    store_inputs(version, records(300, 66))
    predicted_rows: list[int] = []
    fitted_columns: list[list[str]] = []
    outputs, fit_calibrated = estimates._outputs, clients._fit_calibrated

    def counted_outputs(model, frame):
        predicted_rows.append(len(frame))
        return outputs(model, frame)

    def counted_fit(reference, categorical, continuous, *args):
        fitted_columns.append(continuous + categorical)
        return fit_calibrated(reference, categorical, continuous, *args)

    monkeypatch.setattr(estimates, "_outputs", counted_outputs)
    monkeypatch.setattr(clients, "_fit_calibrated", counted_fit)

    checks = [
        drift_check_version(model_name=MODEL, model_version=version, window=300, trigger=DriftEvent.Trigger.MONITORING)
        for _ in range(2)
    ]

    # The model ran on the drift sample once, and on each check's window.
    assert predicted_rows == [synthetic_sample.rows, 300, 300]
    assert fitted_columns.count(["prediction"]) == 1
    assert [check.prediction_drift["method"] for check in checks] == ["jensen_shannon", "jensen_shannon"]
    assert checks[0].prediction_drift["threshold"] == checks[1].prediction_drift["threshold"]


# --- Two gunicorn worker processes, a real Celery worker ------------------------------------------

EVERY_N = 60
ROWS_PER_REQUEST = 10
CHECK_TASK_RECEIVED = re.compile(r"Task mlservice\.drift_monitoring_check\[([0-9a-f-]+)\] received")
CHECK_TASK_DONE = re.compile(r"Task mlservice\.drift_monitoring_check\[([0-9a-f-]+)\] (?:succeeded|raised|failed)")


def monitoring_environment(**overrides: str) -> dict[str, str]:
    """The environment of a web or job process of this test: the test database, MLflow store and queue."""
    return {
        **worker_environment(settings.CELERY_TASK_DEFAULT_QUEUE),
        "MLSERVICE_DRIFT_MONITOR_ENABLED": "true",
        "MLSERVICE_DRIFT_MONITOR_EVERY_N": str(EVERY_N),
        # One interval covers the whole test: a second check in it would be a second check per interval.
        "MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S": "3600",
        **overrides,
    }


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as handle:
        return subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    process_stop(process)


def wait_until_up(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"gunicorn did not start:\n{log.read_text()[-3000:]}")


def post_inference(port: int, token: str, rows: list[dict]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/inference",
        data=json.dumps({"model_name": MODEL, "dataframe_records": rows}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}", "Connection": "close"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200
        return len(json.loads(response.read())["prediction_ids"])


def requests_per_pid(access_log: Path) -> dict[str, int]:
    """Count the answered POST /inference requests of each gunicorn worker process (its pid leads the line)."""
    counts: dict[str, int] = {}
    for line in access_log.read_text().splitlines():
        if match := re.match(r"^pid=<(\d+)> \"POST /inference HTTP/1\.[01]\" 200$", line):
            counts[match[1]] = counts.get(match[1], 0) + 1
    return counts


def check_tasks(worker_log: Path) -> tuple[set[str], set[str]]:
    """Return the ids of the drift-check tasks the worker received and of those it finished."""
    text = worker_log.read_text()
    return set(CHECK_TASK_RECEIVED.findall(text)), set(CHECK_TASK_DONE.findall(text))


def queued_messages() -> int:
    """Return how many messages wait in the test queue on the broker (kombu keeps one list per priority)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        keys = client.scan_iter(match=f"{settings.CELERY_TASK_DEFAULT_QUEUE}*", count=1000)
        return sum(client.llen(key) for key in keys if client.type(key) == b"list")
    finally:
        client.close()


def wait_until_the_worker_is_idle(worker_log: Path) -> tuple[set[str], set[str]]:
    """Wait until nothing is queued and the worker finished every check it received, twice 3 s apart."""
    deadline, settled = time.monotonic() + 300, 0
    while settled < 2 and time.monotonic() < deadline:
        received, done = check_tasks(worker_log)
        settled = settled + 1 if queued_messages() == 0 and received <= done else 0
        time.sleep(3)
    return check_tasks(worker_log)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("synthetic_sample")
def test_two_gunicorn_workers_past_n_give_one_check_per_interval(api_client, synthetic_model, tmp_path):
    version = synthetic_model["model_version"]
    token = api_client._credentials["HTTP_AUTHORIZATION"].split()[1]
    VersionMonitor.objects.filter(registered_model_name=MODEL).delete()
    DriftEvent.objects.filter(registered_model_name=MODEL).delete()
    port = free_port()
    access_log, worker_log = tmp_path / "gunicorn.log", tmp_path / "worker.log"
    # Create the session's MLflow store before the processes race to create its tables.
    mlflow_setup()
    job_worker = start(
        [str(Path(sys.executable).with_name("celery")), "-A", "mlservice", "worker", "--loglevel", "INFO",
         "--concurrency", "2", "--pool", "prefork", "--queues", settings.CELERY_TASK_DEFAULT_QUEUE,
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        monitoring_environment(), worker_log,
    )  # fmt: skip
    server = start(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "deploy/gunicorn.conf.py",
         "--access-logformat", 'pid=%(p)s "%(r)s" %(s)s', "mlservice.wsgi:application"],
        monitoring_environment(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2"), access_log,
    )  # fmt: skip
    connection.close()
    inputs = records(4000, 65)
    batches = iter(inputs[offset : offset + ROWS_PER_REQUEST] for offset in range(0, len(inputs), ROWS_PER_REQUEST))
    try:
        wait_until_up(port, server, access_log)
        # Four clients at a time until each worker process has stored N rows or more (at most 400 requests).
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _ in range(50):
                served = requests_per_pid(access_log)
                if len(served) >= 2 and all(count * ROWS_PER_REQUEST >= EVERY_N for count in served.values()):
                    break
                list(pool.map(lambda batch: post_inference(port, token, batch), [next(batches) for _ in range(8)]))
        served = requests_per_pid(access_log)

        # Every enqueue happened before its response: wait for the check, then until nothing is queued
        # and the worker has finished all it received, so that a second check would be here.
        wait_for_events(version, 1, timeout=300)
        received, done = wait_until_the_worker_is_idle(worker_log)
        events = monitoring_events(version)
    finally:
        stop(server)
        stop(job_worker)
        connection.close()

    assert len(served) == 2, served
    assert all(count * ROWS_PER_REQUEST >= EVERY_N for count in served.values()), served
    assert len(received) == 1, worker_log.read_text()[-3000:]
    assert received == done
    [event] = events
    assert event.status == DriftEvent.Status.COMPLETED
    assert event.estimated_performance["value"] is not None
    monitored = VersionMonitor.objects.get(registered_model_name=MODEL, model_version=version)
    assert monitored.last_check_at is not None
    # The job worker's log: the check, without nannyml's INFO lines or MLflow's download progress bars.
    log = worker_log.read_text()
    assert "drift_monitoring_check" in log
    assert "INFO nannyml" not in log
    assert "Downloading artifacts" not in log


SWEEP_TASK_DONE = re.compile(r"Task mlservice\.drift_monitoring_sweep\[[0-9a-f-]+\] succeeded in [0-9.e-]+s: (\d+)")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("synthetic_sample")
def test_the_beat_schedule_checks_a_version_with_new_predictions_once_per_interval(synthetic_model, tmp_path):
    version = synthetic_model["model_version"]
    VersionMonitor.objects.filter(registered_model_name=MODEL).delete()
    DriftEvent.objects.filter(registered_model_name=MODEL).delete()
    # A web process records the version when it first stores predictions of it.
    VersionMonitor.objects.create(registered_model_name=MODEL, model_version=version)
    store_inputs(version, records(300, 67))
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    environment = monitoring_environment(MLSERVICE_DRIFT_MONITOR_EVERY_S="2")
    mlflow_setup()
    job_worker = start(
        [str(Path(sys.executable).with_name("celery")), "-A", "mlservice", "worker", "--loglevel", "INFO",
         "--concurrency", "2", "--pool", "prefork", "--queues", settings.CELERY_TASK_DEFAULT_QUEUE,
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        environment, worker_log,
    )  # fmt: skip
    # As docker-compose runs it: one beat process beside the workers.
    beat = start(
        [str(Path(sys.executable).with_name("celery")), "-A", "mlservice", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "celerybeat-schedule")],
        environment, beat_log,
    )  # fmt: skip
    connection.close()
    try:
        wait_for_events(version, 1, timeout=300)
        # New predictions after the check: every later sweep sees them and asks for a check in the interval.
        store_inputs(version, records(100, 68))
        connection.close()
        sweeps_before = len(SWEEP_TASK_DONE.findall(worker_log.read_text()))
        deadline = time.monotonic() + 120
        while len(SWEEP_TASK_DONE.findall(worker_log.read_text())) < sweeps_before + 3:
            assert time.monotonic() < deadline, worker_log.read_text()[-3000:]
            time.sleep(1)
        received, done = wait_until_the_worker_is_idle(worker_log)
        events = monitoring_events(version)
    finally:
        stop(beat)
        stop(job_worker)
        connection.close()

    assert "Sending due task drift-monitoring (mlservice.drift_monitoring_sweep)" in beat_log.read_text()
    sweeps = [int(checked) for checked in SWEEP_TASK_DONE.findall(worker_log.read_text())]
    # The first sweep claimed the version's check; none after it, with new predictions in the same interval.
    assert sweeps[0] == 1
    assert sum(sweeps) == 1
    assert len(received) == 1
    assert received == done
    [event] = events
    assert event.subject_rows == 300
    assert event.status == DriftEvent.Status.COMPLETED
