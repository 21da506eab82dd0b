"""Test settings: the production settings file on test services.

PostgreSQL (TEST_DATABASE_URL, default the machine's local server), a temporary var/ directory
with a fresh MLflow store for the session, and local-file storages that tests switch to the real
S3 server where S3 is what they test.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_session_dir = tempfile.mkdtemp(prefix="mlservice-test-")
atexit.register(shutil.rmtree, _session_dir, ignore_errors=True)

os.environ["MLSERVICE_VAR_DIR"] = _session_dir
os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mlservice")
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_session_dir}/mlflow.db"
os.environ.pop("S3_BUCKET", None)
# A dead MLflow must fail a test in well under a second.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "5"

from mlservice.settings import *  # noqa: E402,F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
# One inference run per request, so a test can find the run its request names.
MLSERVICE_INFER_RUN_WINDOW_S = 0.0
# Monitoring checks run in a background thread that commits outside a test's transaction: only
# the tests about monitoring turn it on.
MLSERVICE_DRIFT_MONITOR_ENABLED = False
# Jobs: the machine's real Redis, and a queue of this test session's own.
CELERY_BROKER_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CELERY_TASK_DEFAULT_QUEUE = f"mlservice-test-{os.getpid()}-{os.urandom(3).hex()}"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 30}
MLSERVICE_TRAIN_WAIT_S = 60.0
MLSERVICE_DRIFT_WAIT_S = 60.0
MLSERVICE_EVALUATE_WAIT_S = 60.0
