"""The predictions admin: read-only, filtered from the mirror, searched by exact ids, never counted."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import ModelVersion
from tests.predictions.factories import PredictionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="op", password="pw-op-12345"))
    return client


def test_changelist_filters_and_searches_by_request_id(admin_browser):
    prediction = PredictionFactory()
    PredictionFactory(model_name="wine")
    url = reverse("admin:predictions_prediction_changelist")

    filtered = admin_browser.get(url, {"model_name": "iris", "model_version": "1"})
    searched = admin_browser.get(url, {"q": str(prediction.request_id)})

    assert filtered.status_code == 200
    assert searched.status_code == 200
    assert str(prediction.request_id) in searched.content.decode()


def test_detail_shows_inputs_as_a_table_and_is_read_only(admin_browser):
    prediction = PredictionFactory()

    page = admin_browser.get(reverse("admin:predictions_prediction_change", args=[prediction.pk])).content.decode()

    assert "<td>colour</td><td>red</td>" in page
    assert 'name="_save"' not in page


@pytest.fixture
def versions() -> None:
    """The ModelVersion mirror the model and version filters take their choices from."""
    for name, version in (("iris", "1"), ("iris", "2"), ("wine", "1")):
        ModelVersion.objects.create(registered_model_name=name, version=version)


def listed(response) -> list[int]:
    assert response.status_code == 200
    return [row.pk for row in response.context["cl"].result_list]


def test_model_and_version_filters_offer_the_mirrors_versions_and_filter(admin_browser, versions):
    wanted = PredictionFactory(model_version="2")
    PredictionFactory(model_version="1")
    PredictionFactory(model_name="wine")
    PredictionFactory(model_name="not-in-the-mirror")
    url = reverse("admin:predictions_prediction_changelist")

    with CaptureQueriesContext(connection) as queries:
        response = admin_browser.get(url, {"model_name": "iris", "model_version": "2"})

    assert listed(response) == [wanted.pk]
    choices = {spec.parameter_name: dict(spec.lookup_choices) for spec in response.context["cl"].filter_specs}
    # Models of the session's other tests are in the mirror too; the table's own names are not.
    assert {"iris", "wine"} <= set(choices["model_name"])
    assert "not-in-the-mirror" not in choices["model_name"]
    assert choices["model_version"] == {"1": "1", "2": "2"}
    on_predictions = [q["sql"] for q in queries.captured_queries if '"predictions_prediction"' in q["sql"]]
    assert on_predictions, "the page reads the table"
    assert not [sql for sql in on_predictions if "COUNT(" in sql or "DISTINCT" in sql], on_predictions


def test_a_bad_filter_value_drops_the_filters(admin_browser):
    response = admin_browser.get(reverse("admin:predictions_prediction_changelist"), {"model_version": "v1"})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_search_by_request_id_or_prediction_id_is_exact(admin_browser):
    first = PredictionFactory()
    sibling = PredictionFactory(request_id=first.request_id)
    other = PredictionFactory()
    url = reverse("admin:predictions_prediction_changelist")

    assert listed(admin_browser.get(url, {"q": str(first.request_id)})) == [sibling.pk, first.pk]
    assert listed(admin_browser.get(url, {"q": f" {other.pk} "})) == [other.pk]
    assert listed(admin_browser.get(url, {"q": str(first.request_id)[:8]})) == []


@pytest.mark.parametrize("term", ["iris", "12ab", "-1", str(2**63), "١٢"])
def test_a_term_that_is_no_id_finds_nothing_without_reading_the_table(admin_browser, term):
    PredictionFactory()

    with CaptureQueriesContext(connection) as queries:
        response = admin_browser.get(reverse("admin:predictions_prediction_changelist"), {"q": term})

    assert listed(response) == []
    assert not [q["sql"] for q in queries.captured_queries if '"predictions_prediction"' in q["sql"]]


def test_pages_say_whether_more_follow_and_never_count(admin_browser):
    PredictionFactory.create_batch(120)
    url = reverse("admin:predictions_prediction_changelist")

    with CaptureQueriesContext(connection) as queries:
        first = admin_browser.get(url)
    last = admin_browser.get(url, {"p": "3"})
    beyond = admin_browser.get(url, {"p": "4"})

    assert len(listed(first)) == 50
    assert "more predictions follow" in first.content.decode()
    assert len(listed(last)) == 20
    assert "page 3, the last" in last.content.decode()
    assert beyond.status_code == 302
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
