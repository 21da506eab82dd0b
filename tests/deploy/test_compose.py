"""The deployment stack: docker-compose.yml, the Dockerfile, Prometheus and Grafana provisioning.

No Docker engine runs here, so the stack is checked without one: Debian's docker-compose (1.29)
validates the file, and these tests check what a validator can't: every variable the app reads is
set, images are pinned, and the dashboards ask for metrics the app exports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SECRETS = {
    "DJANGO_SECRET_KEY": "x",
    "POSTGRES_PASSWORD": "x",
    "MINIO_ROOT_PASSWORD": "x",
    "GRAFANA_ADMIN_PASSWORD": "x",
}


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def variables_read_by_the_app() -> set[str]:
    """Return every environment variable settings.py and the gunicorn config read."""
    pattern = re.compile(r'(?:env(?:\.\w+)?|_secret|os\.environ\.get|os\.environ\.setdefault)\(\s*"([A-Z0-9_]+)"')
    names = set(settings.CLIENT_ENVIRONMENT_DEFAULTS)
    for path in (ROOT / "mlservice" / "settings.py", ROOT / "deploy" / "gunicorn.conf.py"):
        names |= set(pattern.findall(path.read_text()))
    return names


def test_docker_compose_validates_the_file():
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed (.ci/run installs Debian's package)")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"], env={**os.environ, **SECRETS}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_secrets():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed")
    env = {key: value for key, value in os.environ.items() if key not in SECRETS}
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"], env=env, capture_output=True, text=True, cwd="/"
    )
    assert result.returncode != 0
    assert "set" in result.stderr


def test_every_variable_the_app_reads_is_set_for_the_app():
    app_environment = set(compose()["services"]["app"]["environment"])

    missing = variables_read_by_the_app() - app_environment

    assert variables_read_by_the_app() >= {"DATABASE_URL", "S3_BUCKET", "MLFLOW_TRACKING_URI", "DJANGO_SECRET_KEY"}
    assert missing == set()


def test_the_stack_has_every_service_and_pinned_images():
    services = compose()["services"]

    assert {"postgres", "minio", "minio-init", "mlflow", "app", "worker", "redis", "prometheus", "grafana"} <= set(
        services
    )
    for name, service in services.items():
        image = service.get("image", "")
        if "build" in service:
            continue
        assert ":" in image, f"{name}: unpinned image {image!r}"
        assert not image.endswith(":latest"), f"{name}: {image!r} floats"


def test_mlflow_uses_postgres_and_minio_and_the_app_uses_all_three():
    services = compose()["services"]
    mlflow_command = " ".join(services["mlflow"]["command"])
    app = services["app"]["environment"]

    assert "--backend-store-uri=postgresql+psycopg://" in mlflow_command
    assert "--artifacts-destination=s3://mlflow" in mlflow_command
    assert app["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert app["S3_ENDPOINT_URL"] == "http://minio:9000"
    assert app["DATABASE_URL"].startswith("postgres://")
    assert "mc mb" in " ".join(services["minio-init"]["entrypoint"])


def test_dockerfile_migrates_then_serves_with_gunicorn():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()

    assert "uv pip sync --system --no-cache requirements.txt" in dockerfile
    assert "manage.py migrate --no-input && exec gunicorn -c deploy/gunicorn.conf.py" in dockerfile


def exported_metric_names() -> set[str]:
    source = (ROOT / "mlservice" / "metrics.py").read_text() + (ROOT / "core" / "metrics.py").read_text()
    names = set(re.findall(r'"(mlservice_[a-z_]+)"', source))
    histograms = set(re.findall(r'Histogram\(\s*"(mlservice_[a-z_]+)"', source))
    return names | {f"{name}_{suffix}" for name in histograms for suffix in ("bucket", "sum", "count")}


def queried_metric_names(text: str) -> set[str]:
    return set(re.findall(r"\b(mlservice_[a-z_]+)", text))


def test_dashboard_and_alert_query_metrics_the_app_exports():
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "mlservice.json").read_text())
    expressions = " ".join(target["expr"] for panel in dashboard["panels"] for target in panel["targets"])
    alert = (ROOT / "deploy" / "grafana" / "provisioning" / "alerting" / "drift.yml").read_text()

    assert queried_metric_names(expressions) <= exported_metric_names()
    assert queried_metric_names(alert) <= exported_metric_names()
    assert {"mlservice_drift_feature_value", "mlservice_drift_drifted_share", "mlservice_predictions_total"} <= (
        queried_metric_names(expressions)
    )
    assert yaml.safe_load(alert)["groups"][0]["rules"][0]["data"][0]["datasourceUid"] == "prometheus"
    assert {"mlservice_estimated_performance", "mlservice_estimated_performance_alert"} <= (
        queried_metric_names(expressions)
    )
    assert "mlservice_estimated_performance_alert" in queried_metric_names(alert)
    assert {"mlservice_multivariate_drift_value", "mlservice_prediction_drift_alert",
            "mlservice_multivariate_drift_alert"} <= queried_metric_names(expressions)  # fmt: skip
    assert "mlservice_prediction_drift_alert" in queried_metric_names(alert)


def test_prometheus_scrapes_the_app_and_grafana_reads_prometheus():
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    datasource = yaml.safe_load(
        (ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )

    job = prometheus["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["app:8000"]
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert datasource["datasources"][0]["uid"] == "prometheus"


def test_the_worker_runs_celery_with_the_apps_environment():
    services = compose()["services"]

    assert services["worker"]["command"][:4] == ["celery", "-A", "mlservice", "worker"]
    assert services["worker"]["environment"] == services["app"]["environment"]
    assert services["app"]["environment"]["CELERY_BROKER_URL"].startswith("redis://redis:6379")
