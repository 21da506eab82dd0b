"""Who gets in, what a response never shows, and the production settings checklist."""

from __future__ import annotations

import io
import os
import re
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator

from tests.models_api.test_train_api import assert_failed, train_body

pytestmark = pytest.mark.django_db

OPEN_PATHS = {"/health", "/health/ready"}


def schema_operations() -> list[tuple[str, str]]:
    """Return (method, concrete path) of every operation in the OpenAPI schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, methods in schema["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", lambda m: "1" if m.group(0) in ("{pk}", "{id}") else "x", path)
        concrete = concrete.replace("/jobs/1", "/jobs/00000000-0000-0000-0000-000000000000")
        operations += [(method.upper(), concrete) for method in methods if method in ("get", "post", "delete")]
    return operations


def test_the_schema_lists_the_endpoints_this_test_walks():
    paths = {path for _, path in schema_operations()}

    assert {"/train", "/inference", "/data-drift", "/evaluate", "/predictions/", "/metrics"} <= paths | {
        p.rstrip("/") for p in paths
    }


@pytest.mark.parametrize(("method", "path"), schema_operations())
def test_every_endpoint_but_health_needs_a_token(anonymous_client, method, path):
    response = anonymous_client.generic(method, path, data="{}", content_type="application/json")

    if path.rstrip("/") in OPEN_PATHS:
        assert response.status_code in (200, 503)
    else:
        body = assert_failed(response, 401, "not_authenticated")
        assert body["error"]["message"]


def test_the_admin_needs_staff(api_client):
    # A token is not an admin session; the schema and docs are for any token (tests/mlservice/test_schema.py).
    response = api_client.get("/admin/registry/run/")

    assert response.status_code in (302, 403)


def test_an_unhandled_error_shows_no_traceback_or_setting(api_client, monkeypatch):
    from models_api import views

    def explode(**_: object) -> None:
        raise RuntimeError(f"secret {settings.SECRET_KEY}")

    # A fault that can't be produced for real on purpose: an unexpected exception inside a service.
    monkeypatch.setattr(views, "job_enqueue_training", explode)
    response = api_client.post("/train", train_body(model_name="boom"), format="json")

    body = assert_failed(response, 500, "internal_error")
    text = response.content.decode()
    assert settings.SECRET_KEY not in text
    assert "Traceback" not in text
    assert body["error"]["message"] == "Internal server error."


@pytest.mark.usefixtures("runs_jobs")
def test_unparseable_parquet_is_400(api_client, datasets_dir):
    datasets_dir.mkdir(parents=True, exist_ok=True)
    (datasets_dir / "broken.parquet").write_bytes(b"PAR1 this is not parquet")

    body = assert_failed(api_client.post("/train", train_body(data={"uri": "broken.parquet"}), format="json"), 400)

    assert "Parquet" in body["error"]["message"]


@override_settings(MLSERVICE_MAX_BODY_BYTES=10_000)
def test_an_upload_over_the_limit_is_413(api_client):
    upload = io.BytesIO(b"a,b\n" + b"1,2\n" * 5000)
    upload.name = "big.csv"

    response = api_client.post("/train", {"model_name": "big", "file": upload}, format="multipart")

    assert_failed(response, 413, "payload_too_large")


@override_settings(MLSERVICE_TRAIN_THROTTLE="2/minute")
def test_train_throttling_is_configurable(api_client):
    from django.core.cache import cache

    cache.clear()
    statuses = [api_client.post("/train", {}, format="json").status_code for _ in range(3)]

    assert statuses == [400, 400, 429]
    response = api_client.post("/train", {}, format="json")
    assert_failed(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_deployment_checklist_is_clean_for_production_settings():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlservice.settings",
        "MLSERVICE_VAR_DIR": str(settings.VAR_DIR),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECURE_COOKIES": "true",
        "DJANGO_SECURE_SSL_REDIRECT": "true",
        "DJANGO_HSTS_SECONDS": "31536000",
        "DJANGO_HSTS_PRELOAD": "true",
        "DJANGO_BEHIND_TLS_PROXY": "true",
        "DJANGO_ALLOWED_HOSTS": "mlservice.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
