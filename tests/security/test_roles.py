"""Least privilege: a token's role decides which operations it may call (403 in the error shape otherwise)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from rest_framework.test import APIClient

from models_api.accounts import api_token_get_or_create
from tests.models_api.test_train_api import assert_failed

pytestmark = pytest.mark.django_db

ROW = {"dataframe_records": [{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4,
                              "petal width (cm)": 0.2}]}  # fmt: skip


def client_in(role: str) -> APIClient:
    token, _ = api_token_get_or_create(username=f"{role}-user", role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_an_inference_token_predicts_and_reads_but_cannot_train_promote_or_delete(iris_model):
    client = client_in("inference")
    name, version = iris_model["registered_model_name"], iris_model["model_version"]

    predicted = client.post("/inference", {"model_name": name, **ROW}, format="json")
    listed = client.get("/predictions/", {"model_name": name})
    trained = client.post("/train", {"model_name": "nope", "data": {"builtin": "iris"}}, format="json")
    promoted = client.post(f"/models/{name}/aliases", {"alias": "champion", "version": version}, format="json")
    removed = client.delete(f"/models/{name}/aliases/production")
    checked = client.post("/data-drift", {"model_name": name, "data": ROW}, format="json")

    assert predicted.status_code == 200, predicted.content
    assert listed.status_code == 200
    for response in (trained, promoted, removed, checked):
        body = assert_failed(response, 403)
        assert "role" in body["error"]["message"]


@pytest.mark.usefixtures("runs_jobs")  # the evaluation runs as a job
def test_a_training_token_trains_and_checks_drift_but_cannot_promote(iris_model):
    client = client_in("training")
    name, version = iris_model["registered_model_name"], iris_model["model_version"]

    evaluated = client.post("/evaluate", {"model_name": name, "data": {"builtin": "iris"}}, format="json")
    jobs = client.get("/jobs/")
    promoted = client.post(f"/models/{name}/aliases", {"alias": "champion", "version": version}, format="json")

    assert evaluated.status_code == 200, evaluated.content
    assert jobs.status_code == 200
    assert_failed(promoted, 403)


def test_an_operator_token_promotes(iris_model):
    client = client_in("operator")
    name, version = iris_model["registered_model_name"], iris_model["model_version"]

    response = client.post(f"/models/{name}/aliases", {"alias": "operators-pick", "version": version}, format="json")

    assert response.status_code == 200, response.content
    assert client.delete(f"/models/{name}/aliases/operators-pick").status_code == 204


def test_createapitoken_assigns_the_role_and_changes_it_when_asked():
    out = StringIO()
    call_command("createapitoken", "scorer", "--role", "inference", stdout=out)
    call_command("createapitoken", "scorer", "--role", "training", stdout=StringIO())

    assert out.getvalue().splitlines()[-1]
    assert list(Group.objects.filter(user__username="scorer").values_list("name", flat=True)) == ["training"]
    assert Group.objects.get(name="operator").permissions.filter(codename="set_alias").exists()


def test_a_refused_call_costs_one_query_and_a_permission_granted_directly_counts(django_assert_num_queries):
    client = client_in("inference")
    token_user = Group.objects.get(name="inference").user_set.get()

    # The token, its user and whether the user may train: one query, then the 403.
    with django_assert_num_queries(1):
        refused = client.post("/train", {"model_name": "nope", "data": {"builtin": "iris"}}, format="json")
    not_yet = client.get("/jobs/")
    token_user.user_permissions.add(Permission.objects.get(content_type__app_label="models_api", codename="view_job"))
    listed = client.get("/jobs/")

    assert_failed(refused, 403)
    assert_failed(not_yet, 403)
    assert listed.status_code == 200, listed.content


def test_a_deactivated_or_unknown_token_is_refused():
    client = client_in("operator")
    Group.objects.get(name="operator").user_set.update(is_active=False)
    unknown = APIClient()
    unknown.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    for response in (client.get("/jobs/"), unknown.get("/jobs/")):
        assert_failed(response, 401)
