"""The admin bases: every page of the project's models is read-only."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from core.admin import ReadOnlyAdmin

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("registry", "models_api", "predictions", "drift")


def test_every_admin_of_the_project_is_read_only_but_the_policies_operators_edit():
    admins = {model._meta.label: model_admin for model, model_admin in admin.site._registry.items()
              if model._meta.app_label in PROJECT_APPS}  # fmt: skip
    editable = admins.pop("models_api.RetrainPolicy")

    assert set(admins) == {"registry.Run", "registry.ModelVersion", "models_api.Job", "predictions.Prediction",
                           "drift.DriftSample", "drift.DriftEvent", "drift.VersionMonitor"}  # fmt: skip
    assert all(isinstance(model_admin, ReadOnlyAdmin) for model_admin in admins.values())
    assert not isinstance(editable, ReadOnlyAdmin)


@pytest.mark.parametrize(
    "name", ["registry_run", "models_api_job", "predictions_prediction", "drift_driftevent", "drift_versionmonitor"]
)
def test_add_pages_are_refused(name):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="root", password="pw-root-12345"))

    assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:{name}_add")).status_code == 403


def test_monitored_versions_show_their_last_check_and_link_to_their_drift_events():
    from django.utils import timezone

    from drift.models import DriftEvent, VersionMonitor

    VersionMonitor.objects.create(registered_model_name="watched", model_version="3", last_check_at=timezone.now(),
                                  last_prediction_id=41)  # fmt: skip
    for name, version in (("watched", "3"), ("other", "1")):
        DriftEvent.objects.create(registered_model_name=name, model_version=version,
                                  trigger=DriftEvent.Trigger.MONITORING, baseline_kind=DriftEvent.Baseline.DRIFT_SAMPLE,
                                  baseline_rows=100, subject_rows=100)  # fmt: skip
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="ops-mon", password="pw-ops-12345"))

    page = client.get(reverse("admin:drift_versionmonitor_changelist")).content.decode()

    assert "watched" in page
    assert "41" in page
    link = reverse("admin:drift_driftevent_changelist") + "?model_name=watched&amp;model_version=3"
    assert link in page
    events = client.get(link.replace("&amp;", "&"))
    assert events.status_code == 200
    assert [event.registered_model_name for event in events.context["cl"].result_list] == ["watched"]
