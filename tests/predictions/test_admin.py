"""The predictions admin: read-only, filterable, inputs as a table."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

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
