"""Every failure comes back in the one error shape."""

from __future__ import annotations

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body


def test_unknown_url_is_404(api_client):
    assert_error_shape(api_client.get("/no-such-endpoint"), 404, "not_found")


def test_wrong_method_is_405(api_client):
    assert_error_shape(api_client.get("/train"), 405, "method_not_allowed")


def test_malformed_json_is_400(api_client):
    response = api_client.post("/train", data="{not json", content_type="application/json")

    assert_error_shape(response, 400, "parse_error")


def test_unsupported_content_type_is_415(api_client):
    response = api_client.post("/train", data="a,b\n1,2", content_type="text/plain")

    assert_error_shape(response, 415, "unsupported_media_type")


def test_missing_token_is_401(anonymous_client):
    response = anonymous_client.post("/train", {}, format="json")

    assert_error_shape(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_wrong_token_is_401(anonymous_client):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert_error_shape(anonymous_client.post("/train", {}, format="json"), 401, "authentication_failed")


@override_settings(MLSERVICE_MAX_BODY_BYTES=1000)
def test_over_large_body_is_413(api_client):
    response = api_client.post("/train", {"model_name": "x" * 2000}, format="json")

    body = assert_error_shape(response, 413, "payload_too_large")
    assert "1000" in body["error"]["message"]


def test_missing_required_field_names_it(api_client):
    body = assert_error_shape(
        api_client.post("/train", {"data": {"builtin": "iris"}}, format="json"), 400, "invalid_input"
    )

    assert "model_name" in body["error"]["details"]
    assert body["error"]["message"].startswith("model_name:")
