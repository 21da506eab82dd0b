"""GET /drift-events/ through its declared filters, the admin's filters, and the one report page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from drift.models import DriftEvent
from registry.models import ModelVersion
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


@pytest.fixture
def admin_browser() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="ops", password="pw-ops-12345"))
    return client


def test_admin_filters_by_model_and_version_from_the_mirror(admin_browser):
    ModelVersion.objects.create(registered_model_name="iris", version="2")
    wanted = event(model_version="2")
    event(model_version="1")

    response = admin_browser.get(
        reverse("admin:drift_driftevent_changelist"), {"model_name": "iris", "model_version": "2"}
    )

    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [wanted.pk]
    specs = {spec.title: spec for spec in response.context["cl"].filter_specs}
    # Session-wide fixtures register other models too: the mirror's names, not the events', are offered.
    assert ("iris", "iris") in specs["model"].lookup_choices
    assert dict(specs["version"].lookup_choices) == {"2": "2"}


def test_the_api_and_the_admin_serve_the_same_report(api_client, admin_browser):
    checked = event(drift_detected=True, features=[{"column": "x1", "kind": "continuous", "method": "ks",
                                                    "value": 0.4, "threshold": 0.1, "lower_threshold": None,
                                                    "alert": True}])  # fmt: skip

    from_api = api_client.get(f"/drift-events/{checked.id}/report")
    from_admin = admin_browser.get(reverse("admin:drift_driftevent_report", args=[checked.id]))

    assert from_api.status_code == from_admin.status_code == 200
    assert from_api.content == from_admin.content
    assert from_api["Content-Type"] == from_admin["Content-Type"] == "text/html; charset=utf-8"
    assert "<td>x1</td>" in from_api.content.decode()


def test_an_unknown_events_report_is_404_in_the_one_shape(api_client):
    assert_failed(api_client.get("/drift-events/999999/report"), 404, "not_found")
