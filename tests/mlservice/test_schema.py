"""The OpenAPI schema and the offline Swagger UI."""

from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))

    assert "/train" in (tmp_path / "schema.yml").read_text()


def test_schema_is_served_to_staff(staff_client):
    response = staff_client.get("/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert "/train" in response.content.decode()


def test_schema_is_refused_without_a_token(anonymous_client):
    assert anonymous_client.get("/schema/").status_code == 401


def test_docs_use_local_assets_only(staff_client):
    response = staff_client.get("/docs/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()
