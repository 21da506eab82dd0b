"""GET /drift-events/ through its declared filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from drift.models import DriftEvent
from tests.models_api.test_train_api import assert_failed

pytestmark = pytest.mark.django_db


def event(**fields) -> DriftEvent:
    defaults = {"registered_model_name": "iris", "model_version": "1", "trigger": DriftEvent.Trigger.MANUAL,
                "baseline_kind": DriftEvent.Baseline.DATASET, "baseline_rows": 100, "subject_rows": 100}  # fmt: skip
    return DriftEvent.objects.create(**{**defaults, **fields})


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["event_id"] for row in response.json()["results"]]


def test_every_filter_narrows_the_list(api_client):
    now = timezone.now()
    old = event()
    # created_at is auto_now_add: age the row afterwards.
    DriftEvent.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=3))
    drifted = event(drift_detected=True, trigger=DriftEvent.Trigger.MONITORING)
    second = event(model_version="2")
    wine = event(registered_model_name="wine")

    assert ids(api_client.get("/drift-events/", {"model_name": "wine"})) == [wine.id]
    assert ids(api_client.get("/drift-events/", {"model_name": "iris", "model_version": "2"})) == [second.id]
    assert ids(api_client.get("/drift-events/", {"drift_detected": "true"})) == [drifted.id]
    assert drifted.id not in ids(api_client.get("/drift-events/", {"drift_detected": "false"}))
    assert ids(api_client.get("/drift-events/", {"trigger": "monitoring"})) == [drifted.id]
    since = (now - timedelta(days=1)).isoformat()
    assert old.id not in ids(api_client.get("/drift-events/", {"since": since}))
    assert ids(api_client.get("/drift-events/", {"until": since})) == [old.id]


@pytest.mark.parametrize(
    ("field", "value"),
    [("trigger", "cron"), ("drift_detected", "perhaps"), ("model_version", "01"), ("since", "today")],
)
def test_a_bad_filter_value_is_400_naming_it(api_client, field, value):
    body = assert_failed(api_client.get("/drift-events/", {field: value}), 400, "invalid_input")

    assert list(body["error"]["details"]) == [field]
