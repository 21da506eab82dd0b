"""Schemathesis against the service's own OpenAPI schema: no 5xx, answers match the schema, errors
in the one shape. A short run here; `make fuzz` runs many more examples (FUZZ_EXAMPLES)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))

raw = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
schema = schemathesis.openapi.from_dict(raw)
# Django's WSGI app, not mlservice.wsgi: that one also sets up a serving process (core.memory), not this one.
schema.app = get_wsgi_application()


@schemathesis.check
def error_shape(ctx, response, case):
    """Every 4xx JSON answer is the one error shape."""
    if 400 <= response.status_code < 500 and response.headers.get("Content-Type", [""])[0].startswith(
        "application/json"
    ):
        body = response.json()
        assert body.get("status") == "failed", body
        assert set(body.get("error", {})) == {"code", "message", "details"}, body


@pytest.fixture
def token(db, settings) -> Iterator[str]:
    """A staff token; the app is called as real WSGI, so keep Django from closing the test's connection."""
    from models_api.accounts import api_token_get_or_create

    # A valid generated drift check or evaluation is queued as a job that no worker runs here: answer 202 at once.
    settings.MLSERVICE_DRIFT_WAIT_S = 0
    settings.MLSERVICE_EVALUATE_WAIT_S = 0

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield api_token_get_or_create(username="fuzzer", staff=True)[0]
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.exclude(path_regex="^/(train|metrics)").parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_holds_its_contract_under_generated_requests(case, token, iris_model):
    # No 5xx, documented statuses and content types, bodies that match the schema, one error shape.
    # (Not "reject every request the schema calls invalid": DRF accepts a few lenient forms.)
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
        additional_checks=[error_shape],
        excluded_checks=[negative_data_rejection, positive_data_acceptance],
    )
