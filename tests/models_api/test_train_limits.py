"""What a job may hold and cost: parameter caps and storable bodies, checked before any job exists."""

from __future__ import annotations

import pytest

from models_api.estimators import cpu_count, estimator_build
from models_api.models import Job
from tests.models_api.test_train_api import assert_failed, train_body

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("estimator", "params", "field", "cap"),
    [
        ("RandomForestClassifier", {"n_estimators": 100_000_000}, "params.n_estimators", "1000"),
        ("GradientBoostingClassifier", {"n_estimators": 5000}, "params.n_estimators", "1000"),
        ("LogisticRegression", {"max_iter": 10_000_000}, "params.max_iter", "10000"),
        ("HistGradientBoostingClassifier", {"max_leaf_nodes": 1_000_000}, "params.max_leaf_nodes", "10000"),
        ("KNeighborsClassifier", {"n_neighbors": 50_000}, "params.n_neighbors", "1000"),
        ("DecisionTreeClassifier", {"max_depth": 10_000}, "params.max_depth", "100"),
        ("RandomForestClassifier", {"max_samples": 10**9}, "params.max_samples", "5000000"),
    ],
)
def test_a_parameter_over_its_cap_is_a_400_naming_it_and_the_cap(api_client, estimator, params, field, cap):
    response = api_client.post("/train", train_body(estimator=estimator, params=params), format="json")

    body = assert_failed(response, 400, "invalid_input")
    assert field in body["error"]["details"]
    assert cap in body["error"]["details"][field][0]
    assert field in body["error"]["message"]
    assert not Job.objects.exists()


def test_n_jobs_is_capped_at_the_workers_cpus(api_client):
    response = api_client.post("/train", train_body(params={"n_jobs": cpu_count() + 1}), format="json")

    body = assert_failed(response, 400, "invalid_input")
    assert str(cpu_count()) in body["error"]["details"]["params.n_jobs"][0]


def test_caps_can_be_raised_by_setting(settings):
    settings.MLSERVICE_TRAIN_PARAM_CAPS = {"n_estimators": 5000}

    estimator, _ = estimator_build(name="RandomForestClassifier", params={"n_estimators": 4000}, random_state=0)

    assert estimator.n_estimators == 4000


def test_an_unbounded_default_depth_trains_at_the_cap_and_an_explicit_depth_is_kept():
    default, _ = estimator_build(name="RandomForestClassifier", params={}, random_state=0)
    explicit, _ = estimator_build(name="RandomForestClassifier", params={"max_depth": 7}, random_state=0)

    assert default.max_depth == 100
    assert explicit.max_depth == 7


def test_values_within_the_caps_and_all_cpus_are_accepted():
    estimator, _ = estimator_build(
        name="RandomForestClassifier", params={"n_estimators": 1000, "n_jobs": -1, "max_depth": 100}, random_state=0
    )

    assert (estimator.n_estimators, estimator.n_jobs, estimator.max_depth) == (1000, -1, 100)


@pytest.mark.parametrize("caps", [{"n_estimator": 10}, {"n_estimators": 0}, {"n_estimators": "10"}])
def test_a_mistyped_cap_setting_fails_the_system_check(settings, caps):
    from models_api.checks import check_train_param_caps

    settings.MLSERVICE_TRAIN_PARAM_CAPS = caps

    errors = check_train_param_caps()

    assert len(errors) == 1
    assert "MLSERVICE_TRAIN_PARAM_CAPS" in errors[0].msg


def test_the_default_caps_pass_the_system_check():
    from models_api.checks import check_train_param_caps

    assert check_train_param_caps() == []


@pytest.mark.parametrize("path", ["/train", "/data-drift"])
def test_a_nul_character_in_the_body_is_a_400_naming_the_field(api_client, path):
    body = {"model_name": "nul", "data": {"dataframe_records": [{"a": "x\x00y", "target": 1}]}}

    response = api_client.post(path, body, format="json")

    failed = assert_failed(response, 400, "invalid_input")
    assert "data" in failed["error"]["details"]
    assert not Job.objects.exists()
