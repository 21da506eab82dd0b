"""Declared filters of the prediction store: GET /predictions/, its schema and the admin."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from core.filters import BooleanFilter, FilterSet, ModelNameFilter, ModelVersionFilter, SinceFilter, UntilFilter
from predictions.models import Prediction


class PredictionFilter(FilterSet):
    model_name = ModelNameFilter()
    model_version = ModelVersionFilter()
    request_id = django_filters.UUIDFilter(help_text="Every row one request (or batch job) stored.")
    since = SinceFilter()
    until = UntilFilter()
    has_ground_truth = BooleanFilter(method="filter_has_ground_truth")

    class Meta:
        model = Prediction
        fields: list[str] = []

    def filter_has_ground_truth(self, queryset: QuerySet[Prediction], name: str, value: bool) -> QuerySet[Prediction]:
        return queryset.filter(ground_truth_at__isnull=not value)
