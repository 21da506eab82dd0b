"""The admin pages operators use render for staff, and only for staff."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from drift.models import DriftSample
from models_api.models import Job
from registry.models import ModelVersion, Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser() -> Client:
    user = get_user_model().objects.create_superuser(username="operator", password="pw-operator-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failed_run() -> Run:
    return Run.objects.create(
        kind=Run.Kind.TRAIN,
        status=Run.Status.FAILED,
        run_name="train_20260101T000000.000000Z",
        mlflow_run_id="abc123",
        mlflow_experiment_id="7",
        registered_model_name="iris",
        error="DependencyUnavailable: storage is unavailable",
        traceback="Traceback (most recent call last):\n  <unsafe & markup>",
        started_at=timezone.now(),
    )


def test_run_changelist_filters_by_kind_status_and_model(admin_browser, failed_run):
    response = admin_browser.get(reverse("admin:registry_run_changelist"), {"status": "failed", "kind": "train"})

    assert response.status_code == 200
    assert failed_run.run_name in response.content.decode()


def test_run_search_by_name(admin_browser, failed_run):
    response = admin_browser.get(reverse("admin:registry_run_changelist"), {"q": "20260101"})

    assert failed_run.run_name in response.content.decode()


def test_failed_run_page_shows_the_error_and_escaped_traceback(admin_browser, failed_run):
    response = admin_browser.get(reverse("admin:registry_run_change", args=[failed_run.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "storage is unavailable" in page
    assert "&lt;unsafe &amp; markup&gt;" in page


@override_settings(MLFLOW_UI_URL="http://mlflow.example:5000/")
def test_run_links_to_the_mlflow_ui_when_configured(admin_browser, failed_run):
    response = admin_browser.get(reverse("admin:registry_run_changelist"))

    assert 'href="http://mlflow.example:5000/#/experiments/7/runs/abc123"' in response.content.decode()


def test_drift_sample_pages_render(admin_browser, failed_run):
    sample = DriftSample.objects.create(
        file="iris/x.parquet",
        rows=15,
        columns=["a", "target"],
        dtypes={"a": "float64", "target": "int64"},
        registered_model_name="iris",
        model_version="1",
        run=failed_run,
    )

    changelist = admin_browser.get(reverse("admin:drift_driftsample_changelist"))
    detail = admin_browser.get(reverse("admin:drift_driftsample_change", args=[sample.pk]))

    assert changelist.status_code == 200
    assert detail.status_code == 200
    assert "<td>float64</td>" in detail.content.decode()


def test_admin_refuses_non_staff():
    user = get_user_model().objects.create_user(username="plain", password="pw-plain-1")
    client = Client()
    client.force_login(user)

    response = client.get(reverse("admin:registry_run_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_run_and_job_changelists_filter_by_a_model_of_the_mirror(admin_browser, failed_run):
    ModelVersion.objects.create(registered_model_name="iris", version="1", run=failed_run)
    job = Job.objects.create(kind=Job.Kind.TRAIN, model_name="iris")
    Job.objects.create(kind=Job.Kind.TRAIN, model_name="wine")

    runs = admin_browser.get(reverse("admin:registry_run_changelist"), {"model_name": "iris", "model_version": ""})
    jobs = admin_browser.get(reverse("admin:models_api_job_changelist"), {"model_name": "iris"})
    none = admin_browser.get(reverse("admin:registry_run_changelist"), {"model_name": "wine"})

    assert [row.pk for row in runs.context["cl"].result_list] == [failed_run.pk]
    assert [row.pk for row in jobs.context["cl"].result_list] == [job.pk]
    assert list(none.context["cl"].result_list) == []
    model_filter = next(spec for spec in jobs.context["cl"].filter_specs if spec.title == "model")
    # Session-wide fixtures register other models too: the mirror's names, not the jobs', are offered.
    assert ("iris", "iris") in model_filter.lookup_choices
    assert ("wine", "wine") not in model_filter.lookup_choices
