"""What a web worker loads to serve POST /inference (no training or evaluation code, no nannyml, no MLflow
autologging), and that it only queues a POST /evaluate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from models_api.models import Job
from registry.models import Run
from tests.models_api.test_inference_api import MODEL, features

# Run as a fresh process, as gunicorn runs a worker: import the WSGI app, serve one request through it,
# then report which of the watched packages got imported and which MLflow autolog integrations are set.
SERVE_ONE_REQUEST = """
import gc, io, json, sys
from mlservice.wsgi import application
frozen_at_start = gc.get_freeze_count()

token, path, body, watched = sys.argv[1], sys.argv[2], sys.argv[3].encode(), json.loads(sys.argv[4])
environ = {
    "REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
    "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "HTTP_AUTHORIZATION": "Token " + token,
    "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.url_scheme": "http",
    "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
}
status = []
answer = b"".join(application(environ, lambda code, headers, exc_info=None: status.append(code)))
from mlflow.utils.autologging_utils import AUTOLOGGING_INTEGRATIONS

import os

print(json.dumps({
    "status": status[0],
    "omp_threads": os.environ.get("OMP_NUM_THREADS"),
    "answer": json.loads(answer),
    "imported": sorted({w for w in watched for m in sys.modules if m == w or m.startswith(w + ".")}),
    # An integration's config is filled in when its autolog() is called (import registers it empty).
    "autolog": sorted(name for name, config in AUTOLOGGING_INTEGRATIONS.items() if config),
    "frozen": [frozen_at_start, gc.get_freeze_count()],
}))
"""

# nannyml (and what only it needs), MLflow's scikit-learn flavor (whose autolog patches scikit-learn),
# the ONNX converter, scikit-learn itself (a compiled version is served by onnxruntime alone) and
# scipy.stats (drift tests import it when they run; `import mlflow` brings scipy.sparse alone).
NEVER_IN_A_SERVING_PROCESS = [
    "nannyml",
    "statsmodels",
    "xgboost",
    "skl2onnx",
    "mlflow.sklearn",
    "sklearn",
    "scipy.stats",
]
# Training code runs on the job workers; a web worker only checks a /train body against the
# estimator allowlist (models_api.estimators, which imports no scikit-learn until a body is checked).
TRAINING_CODE = ["models_api.services", "models_api.pipelines", "models_api.compiling"]
# Evaluation too (and the metrics it shares with training): a web worker only checks and queues a /evaluate.
EVALUATION_CODE = ["models_api.evaluation", "models_api.metrics"]


def serve_one_request_in_a_fresh_process(
    token: str, watched: list[str], *, path: str = "/inference", body: dict | None = None, **env_vars: str
) -> dict:
    database = connection.settings_dict
    env = {
        **{key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"},
        "DJANGO_SETTINGS_MODULE": "mlservice.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "MLFLOW_TRACKING_URI": settings.MLFLOW_TRACKING_URI,
        "MLSERVICE_VAR_DIR": str(settings.VAR_DIR),
        "MLSERVICE_DRIFT_MONITOR_ENABLED": "false",
        **env_vars,
    }
    if body is None:
        body = {"model_name": MODEL, "dataframe_split": features(3).to_dict(orient="split", index=False)}
    done = subprocess.run(
        [sys.executable, "-c", SERVE_ONE_REQUEST, token, path, json.dumps(body), json.dumps(watched)],
        env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_a_serving_process_answers_without_nannyml_scikit_learn_or_mlflow_autolog(api_client, iris_model):
    token = api_client._credentials["HTTP_AUTHORIZATION"].split()[1]

    report = serve_one_request_in_a_fresh_process(token, NEVER_IN_A_SERVING_PROCESS)

    assert report["status"].startswith("200"), report["answer"]
    assert len(report["answer"]["prediction_ids"]) == 3
    assert report["imported"] == []
    assert report["autolog"] == []
    assert report["omp_threads"] == "1"  # one compute thread per web worker process


@pytest.mark.django_db(transaction=True)
def test_a_serving_process_keeps_the_app_and_its_loaded_model_out_of_the_garbage_collector(api_client, iris_model):
    token = api_client._credentials["HTTP_AUTHORIZATION"].split()[1]

    report = serve_one_request_in_a_fresh_process(token, [])

    assert report["status"].startswith("200"), report["answer"]
    frozen_after_import, frozen_after_serving = report["frozen"]
    # Django and its imports are frozen once the app is loaded; the model the request loaded joined them.
    assert frozen_after_import > 100_000
    assert frozen_after_serving > frozen_after_import


@pytest.mark.django_db(transaction=True)
def test_a_serving_process_does_not_import_training_or_evaluation_code(api_client, iris_model):
    token = api_client._credentials["HTTP_AUTHORIZATION"].split()[1]

    report = serve_one_request_in_a_fresh_process(token, TRAINING_CODE + EVALUATION_CODE)

    assert report["imported"] == []


@pytest.mark.django_db(transaction=True)
def test_a_serving_process_queues_an_evaluation_without_loading_the_model_or_writing_a_run(api_client, iris_model):
    token = api_client._credentials["HTTP_AUTHORIZATION"].split()[1]
    body = {"model_name": MODEL, "data": {"builtin": "iris"}}

    # No worker consumes the process's queue (a broker in files under the session's var/): the job stays queued.
    report = serve_one_request_in_a_fresh_process(
        token, NEVER_IN_A_SERVING_PROCESS + TRAINING_CODE + EVALUATION_CODE, path="/evaluate", body=body,
        MLSERVICE_EVALUATE_WAIT_S="0",
    )  # fmt: skip

    assert report["status"].startswith("202"), report["answer"]
    assert report["imported"] == []
    assert report["autolog"] == []
    job = Job.objects.get(pk=report["answer"]["job_id"])
    assert (job.kind, job.status) == (Job.Kind.EVALUATE, Job.Status.QUEUED)
    assert job.payload["model_version"] == iris_model["model_version"]
    assert not Run.objects.filter(kind=Run.Kind.EVAL).exists()
