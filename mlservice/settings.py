"""One env-driven settings file.

With no environment the service runs on embedded defaults under ``var/``: SQLite, local files and
a local MLflow store. ``DATABASE_URL``, the ``S3_*`` variables and ``MLFLOW_TRACKING_URI`` switch to
PostgreSQL, S3 (django-storages) and a remote MLflow server.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from mlservice.storage_config import DATASETS_PREFIX, DRIFT_SAMPLES_PREFIX, s3_storages

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    environ.Env.read_env(BASE_DIR / ".env")

# No phoning home, whatever imports these libraries later (must precede their import).
CLIENT_ENVIRONMENT_DEFAULTS = {
    "MLFLOW_ENABLE_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
    "NML_DISABLE_USAGE_LOGGING": "1",
    # MLflow draws a progress bar on stderr for every artifact download (a model loaded by a job worker).
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # A remote MLflow that is down must fail a request in seconds, not after minutes of retries.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
for _name, _value in CLIENT_ENVIRONMENT_DEFAULTS.items():
    os.environ.setdefault(_name, _value)

VAR_DIR = Path(env("MLSERVICE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)
# MLflow autologging imports matplotlib, which caches its font list here instead of in $HOME.
os.environ.setdefault("MPLCONFIGDIR", str(VAR_DIR / "matplotlib"))


def _secret(name: str, default: str | None = None) -> str | None:
    """Return a secret from ``NAME`` or from the file named by ``NAME_FILE`` (mounted secrets)."""
    if path := os.environ.get(f"{name}_FILE"):
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def _local_secret_key() -> str:
    """Return the secret key kept in var/, generating it on first use."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret("DJANGO_SECRET_KEY") or _local_secret_key()
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "registry",
    "models_api",
    "predictions",
    "drift",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "mlservice.metrics.RequestMetricsMiddleware",
    "mlservice.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mlservice.urls"
WSGI_APPLICATION = "mlservice.wsgi.application"
# Seed endpoints answer with and without a trailing slash themselves.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Storage: drift samples and uploaded datasets -------------------------------------------------
S3_BUCKET = env("S3_BUCKET", default="")
if S3_BUCKET:
    _data_storages = s3_storages(
        bucket=S3_BUCKET,
        endpoint_url=env("S3_ENDPOINT_URL", default=None),
        access_key=_secret("S3_ACCESS_KEY"),
        secret_key=_secret("S3_SECRET_KEY"),
        region=env("S3_REGION", default="us-east-1"),
        addressing_style=env("S3_ADDRESSING_STYLE", default="path"),
        drift_samples_prefix=env("S3_DRIFT_SAMPLES_PREFIX", default=DRIFT_SAMPLES_PREFIX),
        datasets_prefix=env("S3_DATASETS_PREFIX", default=DATASETS_PREFIX),
    )
else:
    _data_storages = {
        name: {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(VAR_DIR / folder)}}
        for name, folder in (("drift_samples", "drift-samples"), ("datasets", "datasets"))
    }

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "media")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    **_data_storages,
}

# --- MLflow -------------------------------------------------------------------------------------
MLFLOW_TRACKING_URI = env("MLFLOW_TRACKING_URI", default=f"sqlite:///{VAR_DIR / 'mlflow.db'}")
# Artifact root for experiments this service creates on a local store; a tracking server
# chooses its own (its --default-artifact-root) and ignores this.
MLFLOW_ARTIFACT_ROOT = env("MLFLOW_ARTIFACT_ROOT", default=str(VAR_DIR / "mlartifacts"))
MLFLOW_EXPERIMENT_NAME = env("MLFLOW_EXPERIMENT_NAME", default="mlservice")
# Base URL of the MLflow UI, for links from the admin (e.g. http://127.0.0.1:5000).
MLFLOW_UI_URL = env("MLFLOW_UI_URL", default="")

# --- Serving ------------------------------------------------------------------------------------
MLSERVICE_MODEL_CACHE_SIZE = env.int("MLSERVICE_MODEL_CACHE_SIZE", default=8)
MLSERVICE_ALIAS_TTL_S = env.float("MLSERVICE_ALIAS_TTL_S", default=30.0)
MLSERVICE_INFER_RUN_WINDOW_S = env.float("MLSERVICE_INFER_RUN_WINDOW_S", default=60.0)
MLSERVICE_INFER_RUN_MAX_PENDING = env.int("MLSERVICE_INFER_RUN_MAX_PENDING", default=10_000)
MLSERVICE_MAX_INFERENCE_ROWS = env.int("MLSERVICE_MAX_INFERENCE_ROWS", default=100_000)
# The compiled fast path: pipelines converted to ONNX at training and served by onnxruntime when
# verified. Off: nothing is compiled at training and every version is served by scikit-learn.
MLSERVICE_FAST_PATH = env.bool("MLSERVICE_FAST_PATH", default=True)

# --- Limits -------------------------------------------------------------------------------------
MLSERVICE_MAX_BODY_BYTES = env.int("MLSERVICE_MAX_BODY_BYTES", default=200 * 1024 * 1024)
MLSERVICE_MAX_TRAIN_ROWS = env.int("MLSERVICE_MAX_TRAIN_ROWS", default=5_000_000)
# Caps on the cost parameters of /train, by name, over the defaults in models_api/estimators.py,
# e.g. {"n_estimators": 5000}; a value over its cap is a 400 naming it.
MLSERVICE_TRAIN_PARAM_CAPS = env.json("MLSERVICE_TRAIN_PARAM_CAPS", default={})
# Training runs on a job worker only. A POST /train without "async" waits this long for the job:
# finished in time, 201 with the result; still running, 202 with the job.
MLSERVICE_TRAIN_WAIT_S = env.float("MLSERVICE_TRAIN_WAIT_S", default=60.0)
# POST /evaluate runs on a job worker too; without "async" it waits this long for the job: done,
# 200 with the metrics (or the job's error); still running, 202 with the job.
MLSERVICE_EVALUATE_WAIT_S = env.float("MLSERVICE_EVALUATE_WAIT_S", default=60.0)
# A job (training, evaluation, drift check...) is stopped after this long and ends failed ("time_limit_exceeded").
MLSERVICE_TRAIN_TIME_LIMIT_S = env.int("MLSERVICE_TRAIN_TIME_LIMIT_S", default=3600)
DATA_UPLOAD_MAX_MEMORY_SIZE = MLSERVICE_MAX_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Data sources ---------------------------------------------------------------------------------
# A JSON or YAML file of named SQL queries (and a project's own sources) that a dataset value
# {"query": {"source", "name", "params"}} reads: see core/datasources.py and README, "Data sources".
MLSERVICE_DATA_SOURCES = env("MLSERVICE_DATA_SOURCES", default="")
# The most rows a named query may return into memory (training, evaluation, drift); more is a 413.
MLSERVICE_DATA_SOURCE_MAX_ROWS = env.int("MLSERVICE_DATA_SOURCE_MAX_ROWS", default=5_000_000)
# Seconds to wait for a source's connection before answering 503.
MLSERVICE_DATA_SOURCE_CONNECT_TIMEOUT_S = env.float("MLSERVICE_DATA_SOURCE_CONNECT_TIMEOUT_S", default=10.0)
# PostgreSQL sources: the longest one statement (a query, or one fetch of a batch's cursor) may run.
MLSERVICE_DATA_SOURCE_STATEMENT_TIMEOUT_S = env.float("MLSERVICE_DATA_SOURCE_STATEMENT_TIMEOUT_S", default=600.0)
# Batch scoring (POST /inference/batch, manage.py score) reads, predicts and stores this many rows
# at a time, and refuses a dataset of more than MLSERVICE_BATCH_MAX_ROWS rows.
MLSERVICE_BATCH_CHUNK_ROWS = env.int("MLSERVICE_BATCH_CHUNK_ROWS", default=50_000)
MLSERVICE_BATCH_MAX_ROWS = env.int("MLSERVICE_BATCH_MAX_ROWS", default=100_000_000)

# --- Prediction store: partitions and retention ---------------------------------------------------
# PostgreSQL partitions predictions_prediction by created_at, one partition per UTC "day", "week"
# (from Monday) or "month", named predictions_prediction_pYYYYMMDD after its first day. A week keeps
# a 90-day retention to ~18 partitions (queries by id or version read every partition's index) and
# drops at most a week late. A change applies to partitions created after it.
MLSERVICE_PREDICTION_PARTITION_INTERVAL = env("MLSERVICE_PREDICTION_PARTITION_INTERVAL", default="week")
if MLSERVICE_PREDICTION_PARTITION_INTERVAL not in ("day", "week", "month"):
    raise ImproperlyConfigured("MLSERVICE_PREDICTION_PARTITION_INTERVAL must be day, week or month.")
# Partitions kept ready after the current one (the maintenance task creates them; a row no partition
# covers still lands in the default partition, and the next maintenance moves it out).
MLSERVICE_PREDICTION_PARTITIONS_AHEAD = env.int("MLSERVICE_PREDICTION_PARTITIONS_AHEAD", default=4)
# Keep predictions this many days, 0 = for ever. PostgreSQL drops a whole partition once its last
# day is older (so rows stay up to one interval longer); SQLite deletes the older rows. The daily
# counts of the operator's page (PredictionDay) are kept.
MLSERVICE_PREDICTION_RETENTION_DAYS = env.int("MLSERVICE_PREDICTION_RETENTION_DAYS", default=0)
# Write each partition to Parquet in the datasets storage (predictions-archive/<partition>.parquet)
# before it is dropped; a partition whose file could not be written is kept.
MLSERVICE_PREDICTION_ARCHIVE = env.bool("MLSERVICE_PREDICTION_ARCHIVE", default=False)

# --- REST framework and OpenAPI -----------------------------------------------------------------
REST_FRAMEWORK = {
    # DRF's TokenAuthentication, with the view's permission answered in the token's query.
    "DEFAULT_AUTHENTICATION_CLASSES": ["core.authentication.OperationTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.OperationPermission"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # A list view's ``filterset_class`` filters it, rejects bad values (400) and documents its parameters.
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "core.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "mlservice",
    "DESCRIPTION": "Train, register, serve and monitor scikit-learn models.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mlservice.schema.add_error_responses",
    ],
    # Any authenticated caller, by token or admin session: API consumers generate their clients from it.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SERVE_AUTHENTICATION": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}

# --- Production hardening ----------------------------------------------------------------------
# Behind TLS (directly or through a proxy that sets X-Forwarded-Proto), turn these on; then
# `manage.py check --deploy` is clean (a test keeps it so). Off by default for plain-http local use.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /health stays plain http for load balancers and probes.
SECURE_REDIRECT_EXEMPT = [r"^health"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# POST /train per user, e.g. "10/minute"; unset: no limit.
MLSERVICE_TRAIN_THROTTLE = env("MLSERVICE_TRAIN_THROTTLE", default="") or None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "alembic": {"level": "WARNING"},
        "mlflow": {"level": "WARNING"},
        # nannyml logs "fitting ..." and "estimating ..." at INFO on every check; its warnings stay.
        "nannyml": {"level": "WARNING"},
    },
}

# --- Drift -------------------------------------------------------------------------------------
# Below this many rows on either side a check says "insufficient_data".
MLSERVICE_DRIFT_MIN_ROWS = env.int("MLSERVICE_DRIFT_MIN_ROWS", default=30)
# POST /data-drift runs on a job worker and waits this long for it: done, 200 with the check; else 202.
MLSERVICE_DRIFT_WAIT_S = env.float("MLSERVICE_DRIFT_WAIT_S", default=60.0)
# Methods "auto": two-sample tests below this many rows on the smaller side, calibrated distances
# from there on (measured by bench/drift_quality.py; README, "Drift").
MLSERVICE_DRIFT_DISTANCE_MIN_ROWS = env.int("MLSERVICE_DRIFT_DISTANCE_MIN_ROWS", default=5000)
# The tests' family-wise level and correction, for checks that don't say (monitoring, check_drift).
MLSERVICE_DRIFT_ALPHA = env.float("MLSERVICE_DRIFT_ALPHA", default=0.05)
MLSERVICE_DRIFT_CORRECTION = env("MLSERVICE_DRIFT_CORRECTION", default="benjamini_hochberg")
# Distances: half the baseline fits nannyml, the other half in this many chunks sets thresholds.
MLSERVICE_DRIFT_REFERENCE_CHUNKS = env.int("MLSERVICE_DRIFT_REFERENCE_CHUNKS", default=10)
# Monitoring (on job workers): a check of a version after every N stored predictions, and on the
# schedule every T seconds for versions with new ones, over the last W stored inputs.
MLSERVICE_DRIFT_MONITOR_EVERY_N = env.int("MLSERVICE_DRIFT_MONITOR_EVERY_N", default=500)
MLSERVICE_DRIFT_MONITOR_EVERY_S = env.float("MLSERVICE_DRIFT_MONITOR_EVERY_S", default=300.0)
# ...but at most one check per version this often, however fast predictions arrive.
MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S = env.float("MLSERVICE_DRIFT_MONITOR_MIN_INTERVAL_S", default=60.0)
MLSERVICE_DRIFT_MONITOR_WINDOW = env.int("MLSERVICE_DRIFT_MONITOR_WINDOW", default=1000)
MLSERVICE_DRIFT_MONITOR_ENABLED = env.bool("MLSERVICE_DRIFT_MONITOR_ENABLED", default=True)

# --- Cache --------------------------------------------------------------------------------------
# Shared by every process, so throttles count per deployment, not per worker: Redis when CACHE_URL
# (or REDIS_URL) names it, else files under var/.
CACHES = {"default": env.cache("CACHE_URL", default=env("REDIS_URL", default=f"filecache://{VAR_DIR / 'cache'}"))}

# --- Metrics ------------------------------------------------------------------------------------
# /metrics needs a token unless this is on (Prometheus can also send one: bearer_token in its config).
MLSERVICE_METRICS_PUBLIC = env.bool("MLSERVICE_METRICS_PUBLIC", default=False)

# --- Jobs (Celery) -------------------------------------------------------------------------------
# Production: Redis (CELERY_BROKER_URL or REDIS_URL). Default: a broker in local files, so that
# `make run` starts a real worker next to gunicorn with no extra server.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=env("REDIS_URL", default="filesystem://"))
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="mlservice")
# Longer than the longest job, or Redis hands a running job's message to a second worker.
MLSERVICE_JOB_VISIBILITY_TIMEOUT_S = env.int(
    "MLSERVICE_JOB_VISIBILITY_TIMEOUT_S", default=MLSERVICE_TRAIN_TIME_LIMIT_S + 600
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # kombu's default is ./control, in whatever folder the process started.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # An unacknowledged job goes back to the queue after this long (a worker that vanished).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": MLSERVICE_JOB_VISIBILITY_TIMEOUT_S}
# The schedule (celery beat; `make run`'s worker embeds it): drift monitoring of served versions.
CELERY_BEAT_SCHEDULE = {
    "drift-monitoring": {"task": "mlservice.drift_monitoring_sweep", "schedule": MLSERVICE_DRIFT_MONITOR_EVERY_S},
    # The closed days of the operator's volume charts, counted ahead of the first visit (hourly: a
    # day closes once a day, and a model registered since gets its days within the hour).
    "prediction-days": {"task": "mlservice.prediction_days_keep", "schedule": 3600},
    # Partitions ahead, stray rows out of the default partition, retention (manage.py
    # predictions_retention). Daily work, looked at hourly: an interval schedule starts counting
    # when beat starts (compose keeps its schedule in /tmp), so a daily one could starve under
    # daily restarts; an hour with nothing due costs a few catalog reads.
    "prediction-store": {"task": "mlservice.predictions_maintain", "schedule": 3600},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Acknowledge after the job, and requeue it when the worker process dies mid-job.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Notifications (core.notifications): the webhook's task is registered by every worker.
CELERY_IMPORTS = ["core.notifications"]
# Jobs: a running job's heartbeat every few seconds; silent this long, it is presumed lost.
MLSERVICE_JOB_HEARTBEAT_S = env.float("MLSERVICE_JOB_HEARTBEAT_S", default=5.0)
MLSERVICE_JOB_STALE_S = env.float("MLSERVICE_JOB_STALE_S", default=120.0)
MLSERVICE_JOB_MAX_ATTEMPTS = env.int("MLSERVICE_JOB_MAX_ATTEMPTS", default=3)

# --- Notifications ---------------------------------------------------------------------------------
# An optional webhook beside Grafana: drift detected, estimated-performance alerts and finished
# retrains, POSTed as JSON by a worker (core.notifications), retried with exponential backoff.
MLSERVICE_ALERT_WEBHOOK_URL = env("MLSERVICE_ALERT_WEBHOOK_URL", default="")
if MLSERVICE_ALERT_WEBHOOK_URL and not MLSERVICE_ALERT_WEBHOOK_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured("MLSERVICE_ALERT_WEBHOOK_URL must be an http:// or https:// URL.")
# Signs each body: header X-Mlservice-Signature: sha256=<HMAC-SHA256 of the body, hex>.
MLSERVICE_ALERT_WEBHOOK_SECRET = _secret("MLSERVICE_ALERT_WEBHOOK_SECRET", default="") or ""
MLSERVICE_ALERT_WEBHOOK_TIMEOUT_S = env.float("MLSERVICE_ALERT_WEBHOOK_TIMEOUT_S", default=5.0)
MLSERVICE_ALERT_WEBHOOK_MAX_RETRIES = env.int("MLSERVICE_ALERT_WEBHOOK_MAX_RETRIES", default=8)
