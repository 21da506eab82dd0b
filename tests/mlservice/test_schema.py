"""The OpenAPI schema and the offline Swagger UI."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.models_api.test_train_api import assert_failed

pytestmark = pytest.mark.django_db


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))

    assert "/train" in (tmp_path / "schema.yml").read_text()


def test_schema_is_served_to_staff(staff_client):
    response = staff_client.get("/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert "/train" in response.content.decode()


def test_schema_and_docs_are_served_to_any_token(api_client):
    schema = api_client.get("/schema/", HTTP_ACCEPT="application/json")
    docs = api_client.get("/docs/")

    assert schema.status_code == 200
    assert "/train" in schema.content.decode()
    assert docs.status_code == 200


def test_schema_is_served_to_an_admin_session(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="reader", password="pw-reader-12345"))

    assert client.get("/schema/", HTTP_ACCEPT="application/json").status_code == 200


def test_schema_and_docs_are_refused_without_a_token(anonymous_client):
    body = assert_failed(anonymous_client.get("/schema/", HTTP_ACCEPT="application/json"), 401, "not_authenticated")

    assert body["error"]["message"]
    assert anonymous_client.get("/docs/").status_code == 401


def test_list_filters_are_documented(staff_client):
    paths = staff_client.get("/schema/", HTTP_ACCEPT="application/json").json()["paths"]

    def parameters(path: str) -> set[str]:
        return {parameter["name"] for parameter in paths[path]["get"]["parameters"]}

    assert parameters("/predictions/") >= {"model_name", "model_version", "request_id", "since", "until",
                                           "has_ground_truth", "cursor", "page_size"}  # fmt: skip
    assert parameters("/drift-events/") >= {"model_name", "model_version", "drift_detected", "trigger", "since"}
    assert parameters("/jobs/") >= {"status", "kind", "model_name"}


def test_docs_use_local_assets_only(staff_client):
    response = staff_client.get("/docs/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()
