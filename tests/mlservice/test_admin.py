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
                           "drift.DriftSample", "drift.DriftEvent"}  # fmt: skip
    assert all(isinstance(model_admin, ReadOnlyAdmin) for model_admin in admins.values())
    assert not isinstance(editable, ReadOnlyAdmin)


@pytest.mark.parametrize("name", ["registry_run", "models_api_job", "predictions_prediction", "drift_driftevent"])
def test_add_pages_are_refused(name):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="root", password="pw-root-12345"))

    assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:{name}_add")).status_code == 403
