"""Retraining policies: GET/PUT/DELETE /models/{name}/policy and the admin, on real PostgreSQL and MLflow."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from models_api.accounts import api_token_get_or_create
from models_api.models import RetrainPolicy
from tests.models_api.test_train_api import assert_failed

pytestmark = pytest.mark.django_db

TINY = {"n_estimators": 2, "max_depth": 3}


def _train(django_db_blocker: Any, name: str, data: dict[str, Any]) -> str:
    from models_api.services import TrainingSpec, model_train

    with django_db_blocker.unblock():
        return model_train(spec=TrainingSpec(model_name=name, data=data, params=TINY)).model_version


@pytest.fixture(scope="module")
def iris_policy_model(django_db_setup: None, django_db_blocker: Any) -> str:
    """A model whose production version was trained on the bundled iris data (recorded, so reusable)."""
    _train(django_db_blocker, "policy-iris", {"builtin": "iris"})
    return "policy-iris"


@pytest.fixture(scope="module")
def inline_policy_model(django_db_setup: None, django_db_blocker: Any) -> str:
    """A model whose production version was trained on inline rows (not kept, so not reusable)."""
    from core.datasets import dataset_load

    frame = dataset_load({"builtin": "iris"})
    _train(django_db_blocker, "policy-inline", {"dataframe_split": frame.to_dict(orient="split", index=False)})
    return "policy-inline"


def client_in(role: str) -> APIClient:
    token, _ = api_token_get_or_create(username=f"policy-{role}", role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_put_creates_the_policy_with_defaults_and_get_returns_it(api_client, iris_policy_model):
    created = api_client.put(f"/models/{iris_policy_model}/policy", {}, format="json")
    read = api_client.get(f"/models/{iris_policy_model}/policy")

    assert created.status_code == 201, created.content
    assert read.status_code == 200
    body = read.json()
    assert body["model_name"] == iris_policy_model
    assert body["retrain_on_drift"] is True
    assert body["min_drifted_share"] == 0.0
    assert body["retrain_on_estimated_drop"] is None
    assert body["data"] is None
    assert body["promote"] is True
    assert body["cooldown_s"] == 3600
    assert body["last_triggered_at"] is None
    assert body["last_job_id"] is None


def test_put_replaces_the_whole_policy(api_client, iris_policy_model):
    api_client.put(f"/models/{iris_policy_model}/policy", {"cooldown_s": 10, "promote": False}, format="json")
    policy = {
        "retrain_on_drift": False,
        "min_drifted_share": 0.25,
        "retrain_on_estimated_drop": {"metric": "accuracy", "min_drop": 0.05},
        "data": {"builtin": "iris"},
        "cooldown_s": 60,
    }

    replaced = api_client.put(f"/models/{iris_policy_model}/policy/", policy, format="json")

    assert replaced.status_code == 200, replaced.content
    body = api_client.get(f"/models/{iris_policy_model}/policy").json()
    assert {key: body[key] for key in policy} == policy
    # Left out of the second PUT: back to its default, not kept from the first.
    assert body["promote"] is True
    assert RetrainPolicy.objects.filter(model_name=iris_policy_model).count() == 1


def test_a_model_without_a_policy_is_404(api_client, iris_policy_model):
    response = api_client.get(f"/models/{iris_policy_model}/policy")

    body = assert_failed(response, 404, "not_found")
    assert "no retraining policy" in body["error"]["message"]


def test_a_policy_for_an_unknown_model_is_404(api_client):
    response = api_client.put("/models/no-such-model/policy", {}, format="json")

    assert_failed(response, 404, "not_found")
    assert not RetrainPolicy.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"min_drifted_share": 1.5}, "min_drifted_share"),
        ({"min_drifted_share": "lots"}, "min_drifted_share"),
        ({"retrain_on_drift": "sometimes"}, "retrain_on_drift"),
        ({"retrain_on_estimated_drop": {"metric": "precision", "min_drop": 0.1}}, "retrain_on_estimated_drop"),
        ({"retrain_on_estimated_drop": {"metric": "accuracy", "min_drop": 0}}, "retrain_on_estimated_drop"),
        ({"retrain_on_estimated_drop": {"metric": "accuracy"}}, "retrain_on_estimated_drop"),
        ({"cooldown_s": -1}, "cooldown_s"),
        ({"promote": None}, "promote"),
        ({"cooldown": 60}, "cooldown"),
        ({"data": "iris.csv"}, "data"),
        ({"data": {"builtin": "iris", "uri": "x.csv"}}, "data"),
        ({"data": {"uri": "policies/missing.csv"}}, "data.uri"),
        ({"data": {"dataframe_records": [{"sepal length (cm)": 5.1}]}}, "data"),
    ],
)
def test_an_invalid_policy_is_a_400_naming_the_field(api_client, iris_policy_model, body, field):
    response = api_client.put(f"/models/{iris_policy_model}/policy", body, format="json")

    answer = assert_failed(response, 400, "invalid_input")
    assert field in answer["error"]["details"], answer
    assert answer["error"]["message"].startswith(field.split(".")[0])
    assert not RetrainPolicy.objects.exists()


def test_no_data_is_a_400_when_production_was_trained_on_inline_rows(api_client, inline_policy_model):
    refused = api_client.put(f"/models/{inline_policy_model}/policy", {}, format="json")
    accepted = api_client.put(f"/models/{inline_policy_model}/policy", {"data": {"builtin": "iris"}}, format="json")

    answer = assert_failed(refused, 400, "invalid_input")
    assert "inline data" in answer["error"]["details"]["data"][0]
    assert accepted.status_code == 201, accepted.content


def test_delete_removes_the_policy(api_client, iris_policy_model):
    api_client.put(f"/models/{iris_policy_model}/policy", {}, format="json")

    deleted = api_client.delete(f"/models/{iris_policy_model}/policy")

    assert deleted.status_code == 204
    assert_failed(api_client.get(f"/models/{iris_policy_model}/policy"), 404)
    assert_failed(api_client.delete(f"/models/{iris_policy_model}/policy"), 404)


def test_a_training_token_reads_policies_but_only_an_operator_changes_them(iris_policy_model):
    operator, training = client_in("operator"), client_in("training")

    written = operator.put(f"/models/{iris_policy_model}/policy", {"cooldown_s": 5}, format="json")
    read = training.get(f"/models/{iris_policy_model}/policy")
    refused = training.put(f"/models/{iris_policy_model}/policy", {"cooldown_s": 0}, format="json")
    not_deleted = training.delete(f"/models/{iris_policy_model}/policy")

    assert written.status_code == 201, written.content
    assert read.json()["cooldown_s"] == 5
    assert_failed(refused, 403)
    assert_failed(not_deleted, 403)
    assert RetrainPolicy.objects.get(model_name=iris_policy_model).cooldown_s == 5


# --- Admin ----------------------------------------------------------------------------------------


@pytest.fixture
def admin_browser() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="policy-admin", password="pw-admin-123"))
    return client


def _admin_form(**overrides: Any) -> dict[str, Any]:
    form = {"model_name": "policy-iris", "retrain_on_drift": "on", "min_drifted_share": "0.2",
            "estimated_drop_metric": "", "estimated_drop_min": "", "data": "null", "promote": "on",
            "cooldown_s": "3600"}  # fmt: skip
    return {**form, **overrides}


def test_an_operator_adds_and_edits_a_policy_in_the_admin(admin_browser, iris_policy_model):
    added = admin_browser.post(reverse("admin:models_api_retrainpolicy_add"), _admin_form())
    policy = RetrainPolicy.objects.get(model_name=iris_policy_model)
    changed = admin_browser.post(
        reverse("admin:models_api_retrainpolicy_change", args=[policy.pk]),
        _admin_form(estimated_drop_metric="accuracy", estimated_drop_min="0.1", promote="", data='{"builtin": "iris"}'),
    )

    assert added.status_code == 302, added.content.decode()[-2000:]
    assert changed.status_code == 302, changed.content.decode()[-2000:]
    policy.refresh_from_db()
    assert policy.min_drifted_share == 0.2
    assert policy.retrain_on_estimated_drop == {"metric": "accuracy", "min_drop": 0.1}
    assert policy.promote is False
    assert policy.data == {"builtin": "iris"}
    listed = admin_browser.get(reverse("admin:models_api_retrainpolicy_changelist")).content.decode()
    assert iris_policy_model in listed
    assert "accuracy by 0.1" in listed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_name": "no-such-model"}, "no-such-model"),
        ({"data": '{"uri": "policies/missing.csv"}'}, "missing.csv"),
        ({"estimated_drop_metric": "accuracy"}, "Give both"),
        ({"min_drifted_share": "2"}, "less than or equal to 1"),
    ],
)
def test_the_admin_refuses_what_the_api_refuses(admin_browser, iris_policy_model, overrides, message):
    response = admin_browser.post(reverse("admin:models_api_retrainpolicy_add"), _admin_form(**overrides))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not RetrainPolicy.objects.exists()


def test_the_admin_shows_a_retrains_decision_and_links_check_and_job(admin_browser):
    from drift.models import DriftEvent
    from models_api.models import Job

    event = DriftEvent.objects.create(
        registered_model_name="policy-iris", model_version="1", trigger=DriftEvent.Trigger.MONITORING,
        baseline_kind=DriftEvent.Baseline.DRIFT_SAMPLE, baseline_rows=300, subject_rows=300, drift_detected=True,
    )  # fmt: skip
    result = {"status": "kept", "message": "candidate is worse: accuracy 0.6100 (v2) vs 0.9300 (v1)"}
    job = Job.objects.create(kind=Job.Kind.RETRAIN, model_name="policy-iris", status=Job.Status.SUCCEEDED,
                             drift_event=event, result=result)  # fmt: skip
    DriftEvent.objects.filter(pk=event.pk).update(retrain_job_id=job.pk)

    job_page = admin_browser.get(reverse("admin:models_api_job_change", args=[job.pk])).content.decode()
    event_page = admin_browser.get(reverse("admin:drift_driftevent_change", args=[event.pk])).content.decode()

    assert "kept: candidate is worse: accuracy 0.6100 (v2) vs 0.9300 (v1)" in job_page
    assert reverse("admin:drift_driftevent_change", args=[event.pk]) in job_page
    assert reverse("admin:models_api_job_change", args=[job.pk]) in event_page
