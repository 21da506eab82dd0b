"""The operator's page of a registered model: every section, its links, who may see it, and what it reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from models_api.tasks import prediction_days_keep_task
from predictions.models import PredictionDay
from predictions.selectors import realized_performance
from predictions.services import DAY_SETTLE, prediction_volume_by_day
from registry.models import ModelVersion
from tests.models_api.operator_data import NAME, seed_model
from tests.predictions.factories import PredictionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="ops", password="pw-ops-12345"))
    return client


def page_url(name: str = NAME) -> str:
    return reverse("admin:registry_modelversion_model", args=[name])


def test_the_page_shows_versions_volume_drift_estimates_feedback_policy_and_jobs(admin_browser):
    seeded = seed_model()

    response = admin_browser.get(page_url())

    page = response.content.decode()
    assert response.status_code == 200
    for section in ('id="versions"', 'id="volume"', 'id="policy"', 'id="jobs"'):
        assert section in page
    rows = response.context["rows"]
    assert [row["version"].version for row in rows] == ["3", "2", "1"]
    production = rows[1]
    assert '<span class="alias">production</span>' in page
    assert '<span class="alias">challenger</span>' in page
    assert "onnx" in page
    assert "skl2onnx failed" in page
    # The latest check of the production version: a drift verdict linked to its event, its estimate in alert.
    assert production["verdict"] == "DRIFT"
    latest_url = reverse("admin:drift_driftevent_change", args=[seeded["events"][-1].pk])
    assert f'href="{latest_url}"' in page
    assert "accuracy 0.790" in page
    assert "reference 0.900" in page
    assert "ALERT" in page
    assert page.count('class="sparkline"') >= 2
    assert 'class="alert"' in page
    # Realized accuracy from feedback: 3 of the 4 rows with ground truth are right ("1" counts as 1).
    assert production["realized"].value == 0.75
    assert production["realized"].rows == 4
    assert "accuracy 0.750" in page
    # Volume: 30 bars, v2's 13 rows and v3's 1 over the window.
    assert page.count('class="bar"') >= 30
    assert response.context["volume_total"] == 14
    assert production["predictions"] == 13
    # Policy and jobs, with the retrain's decision and its trigger.
    assert "accuracy worse by 0.05" in page
    assert "1800 s" in page
    assert reverse("admin:models_api_retrainpolicy_change", args=[seeded["policy"].pk]) in page
    assert "kept: the candidate scored 0.81 &lt; production 0.84" in page
    assert "registered v3" in page
    assert reverse("admin:models_api_job_change", args=[seeded["retrain"].pk]) in page
    assert f"check {seeded['events'][-1].pk}" in page


def test_a_model_without_checks_feedback_or_policy_still_renders(admin_browser):
    ModelVersion.objects.create(registered_model_name="lonely", version="1")

    response = admin_browser.get(page_url("lonely"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "not checked" in page
    assert "no feedback" in page
    assert "No retraining policy" in page
    assert "No job for this model." in page


def test_an_unknown_model_is_a_404(admin_browser):
    assert admin_browser.get(page_url("nobody-knows")).status_code == 404


def test_every_row_of_the_versions_list_links_to_its_models_page(admin_browser):
    seed_model()

    response = admin_browser.get(reverse("admin:registry_modelversion_changelist"), {"q": NAME})

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count(f'href="{page_url()}"') == 3
    version = ModelVersion.objects.get(registered_model_name=NAME, version="2")
    change = admin_browser.get(reverse("admin:registry_modelversion_change", args=[version.pk]))
    assert f'href="{page_url()}"' in change.content.decode()


def test_the_page_is_refused_without_staff_or_the_view_permission():
    seed_model()
    users = get_user_model().objects
    plain = Client()
    plain.force_login(users.create_user(username="plain", password="pw-plain-12345"))
    staff = Client()
    staff_user = users.create_user(username="staff", password="pw-staff-12345", is_staff=True)
    staff.force_login(staff_user)

    refused = plain.get(page_url())
    forbidden = staff.get(page_url())
    staff_user.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    allowed = staff.get(page_url())

    assert refused.status_code == 302
    assert "/admin/login/" in refused["Location"]
    assert forbidden.status_code == 403
    assert allowed.status_code == 200
    # Without the permissions to edit or add policies, no link to do so.
    assert "Edit the policy" not in allowed.content.decode()


def test_the_page_reads_a_bounded_number_of_queries(admin_browser, django_assert_max_num_queries):
    seed_model()
    for version in range(4, 30):
        ModelVersion.objects.create(registered_model_name=NAME, version=str(version))
    admin_browser.get(page_url())

    # Sessions, user, versions, policy, jobs, the summary, today's count, and per monitored version
    # (the newest 8 and those with aliases) its checks and its feedback.
    with django_assert_max_num_queries(30):
        response = admin_browser.get(page_url())

    assert sum(row["monitored"] for row in response.context["rows"]) == 8 + 2  # v2 and v3 hold aliases
    assert "older version: not shown" in response.content.decode()


def test_closed_days_are_counted_once_and_kept_and_today_is_counted_live(django_assert_num_queries):
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    for days_ago, version in ((3, "1"), (3, "2"), (1, "2"), (0, "2")):
        PredictionFactory(model_name="vol", model_version=version, created_at=now - timedelta(days=days_ago))
    PredictionFactory(model_name="other", created_at=now)

    first = prediction_volume_by_day(model_name="vol", days=5, now=now)
    with django_assert_num_queries(2):  # the kept days, then today's live count
        second = prediction_volume_by_day(model_name="vol", days=5, now=now)
    PredictionFactory(model_name="vol", model_version="2", created_at=now)
    third = prediction_volume_by_day(model_name="vol", days=5, now=now)

    assert first == second
    assert [day.predictions for day in first] == [0, 2, 0, 1, 1]
    assert first[1].by_version == {"1": 1, "2": 1}
    assert third[-1].predictions == 2
    kept = PredictionDay.objects.filter(model_name="vol")
    # Four closed days kept (the empty ones too, as a row with no version), never today.
    assert sorted({row.day.isoformat() for row in kept}) == ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19"]
    assert kept.get(day="2026-11-16").model_version == ""


def test_yesterday_is_counted_live_while_it_settles():
    now = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)
    PredictionFactory(model_name="late", created_at=now - timedelta(minutes=10))

    volume = prediction_volume_by_day(model_name="late", days=2, now=now)

    assert [day.predictions for day in volume] == [1, 0]
    assert not PredictionDay.objects.filter(model_name="late").exists()


def test_realized_performance_reads_the_latest_feedback_window():
    for truth in (0, 0, 1, 1):  # the oldest two wrong, then two right
        PredictionFactory(model_name="fb", prediction=1, ground_truth=truth, ground_truth_at=timezone.now())
    PredictionFactory(model_name="fb", prediction=1)  # no feedback: not counted
    for truth, predicted in ((2.0, 1.5), (3.0, 4.0)):
        PredictionFactory(model_name="reg", prediction=predicted, ground_truth=truth, ground_truth_at=timezone.now())

    window = realized_performance(model_name="fb", model_version="1", regression=False, limit=2)
    everything = realized_performance(model_name="fb", model_version="1", regression=False)
    regression = realized_performance(model_name="reg", model_version="1", regression=True)
    nothing = realized_performance(model_name="none", model_version="1", regression=False)

    assert (window.value, window.rows) == (1.0, 2)
    assert (everything.value, everything.rows) == (0.5, 4)
    assert (regression.metric, regression.value) == ("mae", 0.75)
    assert nothing.value is None
    assert nothing.rows == 0


def test_the_schedule_keeps_the_closed_days_of_every_registered_model(settings):
    assert settings.CELERY_BEAT_SCHEDULE["prediction-days"]["task"] == prediction_days_keep_task.name
    seed_model()
    ModelVersion.objects.create(registered_model_name="quiet", version="1")

    prediction_days_keep_task()

    kept = PredictionDay.objects.filter(model_name__in=[NAME, "quiet"])
    assert set(kept.values_list("model_name", flat=True)) == {NAME, "quiet"}
    # The three closed days it served on (yesterday is still settling in the first minutes of a day).
    settling = (timezone.now() - DAY_SETTLE).date() != timezone.now().date()
    assert kept.filter(model_name=NAME, model_version="2").count() == (2 if settling else 3)
    assert not kept.filter(day=timezone.now().date()).exists()


def test_the_page_of_a_model_trained_served_checked_and_labelled_through_the_services(admin_browser, synthetic_model):
    """Real rows end to end: a version trained by model_train, its predictions, feedback and a monitoring check."""
    import uuid

    from drift.models import DriftEvent
    from drift.services import drift_check_version
    from predictions.services import FeedbackItem, PredictionBatch, feedback_apply, predictions_store
    from registry.serving import predict, served_model_get
    from tests.drift.data import synthetic_frame

    name, version = synthetic_model["registered_model_name"], synthetic_model["model_version"]
    frame = synthetic_frame(400, seed=7)
    features = frame.drop(columns=["target"])
    predicted, _ = predict(served_model_get(name=name, version=version), features, probabilities=False)
    ids = predictions_store(
        batch=PredictionBatch(
            model_name=name, model_version=version, request_id=uuid.uuid4(),
            inputs=[json.dumps(row) for row in features.to_dict(orient="records")],
            predictions=[json.dumps(value.item()) for value in predicted], probabilities=None,
        )
    )  # fmt: skip
    truth = frame["target"].astype(int).tolist()
    feedback_apply(items=[FeedbackItem(ground_truth=truth[i], prediction_id=ids[i]) for i in range(100)])
    event = drift_check_version(model_name=name, model_version=version, window=400,
                                trigger=DriftEvent.Trigger.MONITORING)  # fmt: skip
    right = sum(truth[i] == int(predicted[i]) for i in range(100))

    response = admin_browser.get(page_url(name))

    page = response.content.decode()
    row = next(row for row in response.context["rows"] if row["version"].version == version)
    assert response.status_code == 200
    assert row["latest"].pk == event.pk
    assert row["estimate"].value == pytest.approx(event.estimated_performance["value"])
    assert row["realized"].rows == 100
    assert row["realized"].value == pytest.approx(right / 100)
    assert row["predictions"] == 400
    assert f"accuracy {right / 100:.3f}" in page
    assert '<span class="alias">production</span>' in page
