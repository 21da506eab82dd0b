"""PostgreSQL stopped and started again under a running gunicorn (no restart of the service)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from mlflow import MlflowClient

from tests.utils import free_port

pytestmark = pytest.mark.django_db(transaction=True)

ROW = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}


def cluster(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    mode = ["-m", "fast"] if action == "stop" else []
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, *mode], check=True, capture_output=True
    )
    if action == "start":
        for _ in range(60):
            if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError("PostgreSQL did not come back")


def call(port: int, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {})}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode() if body else None,
                                     headers=headers)  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.skipif(
    not Path("/etc/postgresql").is_dir() or os.geteuid() != 0, reason="needs the machine's own PostgreSQL, as root"
)
def test_postgres_down_then_back(api_client, iris_model):
    token = api_client._credentials["HTTP_AUTHORIZATION"].split()[1]
    port = free_port()
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlservice.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "MLFLOW_TRACKING_URI": settings.MLFLOW_TRACKING_URI,
        "MLSERVICE_VAR_DIR": str(settings.VAR_DIR),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "MLSERVICE_DRIFT_MONITOR_ENABLED": "false",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "deploy/gunicorn.conf.py",
         "mlservice.wsgi:application"],
        env=env, cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    connection.close()
    try:
        for _ in range(120):
            try:
                if call(port, "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
        assert call(port, "/inference", token, {"model_name": "iris-served", "dataframe_records": [ROW]})[0] == 200

        cluster("stop")
        try:
            ready_status, ready = call(port, "/health/ready")
            served_status, served = call(
                port, "/inference", token, {"model_name": "iris-served", "dataframe_records": [ROW]}
            )
            trained_status, trained = call(
                port, "/train", token, {"model_name": "pg-down", "data": {"builtin": "iris"}}
            )
        finally:
            cluster("start")

        assert ready_status == 503
        assert ready["error"]["details"]["failing"] == ["database"]
        assert served_status == 503
        assert served["error"]["details"]["dependency"] == "database"
        assert trained_status == 503
        assert trained["error"]["details"]["dependency"] == "database"
        # PostgreSQL back: the same server answers again (stale connections are replaced).
        assert call(port, "/health/ready")[0] == 200
        again_status, again = call(port, "/inference", token, {"model_name": "iris-served", "dataframe_records": [ROW]})
        assert again_status == 200, again
        assert not MlflowClient().search_model_versions("name='pg-down'")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        connection.close()
