"""Fixtures shared by every test: API clients, the real S3 server and session-trained models."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from mlservice.storage_config import s3_storages as s3_storage_entries
from models_api.accounts import api_token_get_or_create

S3_ACCESS_KEY = "minioadmin"
S3_SECRET_KEY = "minioadmin"
S3_BUCKET = "mlservice-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _weed_binary() -> str:
    candidate = Path(sys.executable).with_name("weed")
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        pytest.fail("SeaweedFS (`weed`) is not installed: install requirements-dev.txt")
    return found


def _s3_client(endpoint: str, **overrides: Any) -> Any:
    import boto3

    options = {
        "endpoint_url": endpoint,
        "aws_access_key_id": S3_ACCESS_KEY,
        "aws_secret_access_key": S3_SECRET_KEY,
        "region_name": "us-east-1",
    }
    return boto3.client("s3", **{**options, **overrides})


def _wait_for_bucket(endpoint: str, process: subprocess.Popen, data: Path) -> None:
    deadline = time.monotonic() + 60
    client = _s3_client(endpoint)
    while True:
        try:
            client.create_bucket(Bucket=S3_BUCKET)
            return
        except (client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
            return
        except Exception as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"SeaweedFS did not start: {exc}\n{(data / 'weed.log').read_text()[-3000:]}"
                ) from exc
            time.sleep(0.2)


class SeaweedServer:
    """A real S3 server (SeaweedFS `weed mini`) on loopback, that a test can kill and start again."""

    def __init__(self, data: Path):
        self.data = data
        self.ports = {name: _free_port() for name in ("s3", "master", "volume", "filer")}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.process: subprocess.Popen | None = None
        identity = {"name": "admin", "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"]}  # fmt: skip
        (data / "s3.json").write_text(json.dumps({"identities": [identity]}))

    def start(self) -> None:
        """Start the server and wait until the test bucket exists (created on first start)."""
        ports = self.ports
        command = [
            _weed_binary(), "mini", f"-dir={self.data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false", f"-s3.port={ports['s3']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}", f"-s3.config={self.data / 's3.json'}",
            "-s3.allowDeleteBucketNotEmpty=false", f"-filer.localSocket={self.data}/filer.sock",
            f"-s3.localSocket={self.data}/s3.sock",
        ]  # fmt: skip
        log = (self.data / "weed.log").open("a")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.data)
        _wait_for_bucket(self.endpoint, self.process, self.data)

    def kill(self) -> None:
        """Stop it at once (SIGTERM takes ~28 s; nothing needs a clean shutdown)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Start a real S3 server (SeaweedFS) for the session, with the test bucket created."""
    data = Path(tempfile.mkdtemp(prefix="mlservice-weed-"))
    server = SeaweedServer(data)
    try:
        server.start()
        yield server.endpoint
    finally:
        server.kill()
        shutil.rmtree(data, ignore_errors=True)


def s3_storage_settings(endpoint: str, *, bucket: str = S3_BUCKET) -> dict[str, Any]:
    """Return STORAGES with drift samples and datasets on the S3 server at ``endpoint``."""
    from django.conf import settings

    storages = s3_storage_entries(
        bucket=bucket, endpoint_url=endpoint, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY
    )
    return {**settings.STORAGES, **storages}


@pytest.fixture
def s3_storages(s3_endpoint: str) -> Iterator[str]:
    """Switch the drift-samples and datasets storages to the real S3 server for one test."""
    with override_settings(STORAGES=s3_storage_settings(s3_endpoint)):
        yield s3_endpoint


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    return _s3_client(s3_endpoint)


def _client_for(username: str, *, staff: bool = False) -> APIClient:
    token, _ = api_token_get_or_create(username=username, staff=staff)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def api_client(db: None) -> APIClient:
    """A client authenticated with a plain user's token."""
    return _client_for("api-user")


@pytest.fixture
def staff_client(db: None) -> APIClient:
    return _client_for("staff-user", staff=True)


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def datasets_dir(settings: Any) -> Path:
    """The local datasets storage's directory."""
    return Path(settings.STORAGES["datasets"]["OPTIONS"]["location"])


@dataclass
class SessionModel:
    """A model trained once per session: its /train body, and its database rows as they were trained.

    Transactional tests empty every table when they end; the rows are put back before each test
    that uses the model (its MLflow version and drift-sample file outlive the flush).
    """

    body: dict[str, Any]
    rows: list[Any]

    def restore(self) -> dict[str, Any]:
        """Save the rows again where a flush removed them, and return the body."""
        from django.core import serializers

        from drift.models import DriftSample

        if not DriftSample.objects.filter(pk=self.body["drift_sample_id"]).exists():
            for row in serializers.deserialize("json", serializers.serialize("json", self.rows)):
                row.save()
        return self.body


def session_model(spec: Any, django_db_blocker: Any) -> SessionModel:
    """Train ``spec`` once for the session (call it from a session fixture)."""
    from drift.models import DriftSample
    from models_api.serializers import TrainOutput
    from models_api.services import model_train
    from registry.models import ModelVersion, Run

    with django_db_blocker.unblock():
        body = dict(TrainOutput(model_train(spec=spec)).data)
        run = Run.objects.get(run_name=body["run_name"])
        sample = DriftSample.objects.get(pk=body["drift_sample_id"])
        version = ModelVersion.objects.get(registered_model_name=body["registered_model_name"],
                                           version=body["model_version"])  # fmt: skip
    return SessionModel(body=body, rows=[run, sample, version])


def restored(model: SessionModel, django_db_blocker: Any) -> dict[str, Any]:
    """Return a session model's body, its rows saved again if a transactional test removed them."""
    with django_db_blocker.unblock():
        return model.restore()


@pytest.fixture(scope="session")
def _iris_session_model(django_db_setup: None, django_db_blocker: Any) -> SessionModel:
    from models_api.services import TrainingSpec

    spec = TrainingSpec(model_name="iris-served", data={"builtin": "iris"}, params={"n_estimators": 3, "max_depth": 3})
    return session_model(spec, django_db_blocker)


@pytest.fixture
def iris_model(_iris_session_model: SessionModel, django_db_blocker: Any) -> dict[str, Any]:
    """A tiny forest on iris, registered once per session as version 1 of "iris-served" (alias production)."""
    return restored(_iris_session_model, django_db_blocker)


@pytest.fixture
def flush_infer_runs() -> Iterator[Any]:
    """Yield the inference-run recorder and write whatever it holds before the test's database goes."""
    from models_api.infer_runs import recorder

    yield recorder
    recorder.flush(timeout=30)


@pytest.fixture
def clear_serving_caches() -> Iterator[None]:
    from registry.serving import model_cache, resolution_cache

    model_cache.clear()
    resolution_cache.clear()
    yield
    model_cache.clear()
    resolution_cache.clear()


@pytest.fixture(scope="session")
def _synthetic_session_model(django_db_setup: None, django_db_blocker: Any) -> SessionModel:
    from models_api.services import TrainingSpec
    from tests.drift.data import synthetic_frame

    frame = synthetic_frame(12_000, seed=1)
    spec = TrainingSpec(
        model_name="drift-synth",
        data={"dataframe_split": frame.to_dict(orient="split", index=False)},
        params={"n_estimators": 2, "max_depth": 3},
        drift_sample_fraction=0.5,
    )
    return session_model(spec, django_db_blocker)


@pytest.fixture
def synthetic_model(_synthetic_session_model: SessionModel, django_db_blocker: Any) -> dict[str, Any]:
    """A tiny forest on 12,000 synthetic rows with a 6,000-row drift sample ("drift-synth")."""
    return restored(_synthetic_session_model, django_db_blocker)


@pytest.fixture(autouse=True)
def _fresh_drift_monitoring() -> None:
    """Each test starts with no per-process drift counters or cached drift statuses."""
    from drift.monitoring import drift_status_forget, monitor

    monitor.forget()
    drift_status_forget()


@pytest.fixture(scope="module")
def job_worker(django_db_setup: None) -> Iterator[Any]:
    """A real Celery worker consuming the session's queue on the machine's Redis, in a thread of this process.

    Per module, so that it is gone while tests/models_api/test_jobs.py's worker processes own the queue.
    In this process, so that it sees the test database, the session's MLflow store and a test's
    settings overrides (storages); jobs commit through the thread's own connection, so tests that
    use it are transactional. Time limits and killed processes need the prefork pool:
    tests/models_api/test_jobs.py starts `celery worker` processes for those.
    """
    from celery.contrib.testing.worker import start_worker

    from mlservice.celery import app
    from registry.clients import mlflow_setup

    mlflow_setup()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING") as worker:
        yield worker


@pytest.fixture
def runs_jobs(job_worker: Any, transactional_db: None) -> None:
    """POST /train, /data-drift and /evaluate work in this test: a job worker runs their jobs (rows committed)."""
