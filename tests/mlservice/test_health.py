"""GET /health and GET /health/ready against the real database, storage and MLflow store."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.conftest import s3_storage_settings
from tests.utils import closed_port_url

pytestmark = pytest.mark.django_db


def test_health_answers_without_a_token(anonymous_client):
    response = anonymous_client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_every_dependency_answers(anonymous_client):
    response = anonymous_client.get("/health/ready/")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "storage": "ok", "mlflow": "ok"}


@pytest.mark.s3
def test_ready_on_real_s3(anonymous_client, s3_storages):
    assert anonymous_client.get("/health/ready").status_code == 200


def test_ready_is_503_naming_storage_when_s3_is_down(anonymous_client):
    with override_settings(STORAGES=s3_storage_settings(closed_port_url())):
        response = anonymous_client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failed"
    assert body["error"]["details"]["failing"] == ["storage"]
    assert "storage" in body["error"]["message"]


def test_ready_is_503_naming_mlflow_when_the_tracking_server_is_down(anonymous_client):
    with override_settings(MLFLOW_TRACKING_URI=closed_port_url()):
        response = anonymous_client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["error"]["details"]["failing"] == ["mlflow"]
    # The next request, with MLflow back, is ready again without a restart.
    assert anonymous_client.get("/health/ready").status_code == 200
