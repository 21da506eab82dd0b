"""Factories for stored predictions."""

from __future__ import annotations

import uuid

import factory

from predictions.models import Prediction


class PredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prediction

    model_name = "iris"
    model_version = "1"
    request_id = factory.LazyFunction(uuid.uuid4)
    row_index = factory.Sequence(lambda n: n)
    inputs = factory.LazyFunction(lambda: {"sepal length (cm)": 5.1, "colour": "red"})
    prediction = 0
