"""Declared filters of the prediction store: GET /predictions/, its schema and the admin."""

from __future__ import annotations

import uuid

import django_filters
from django.db.models import QuerySet

from core.filters import BooleanFilter, FilterSet, ModelNameFilter, ModelVersionFilter, SinceFilter, UntilFilter
from predictions.models import Prediction


class PredictionFilter(FilterSet):
    model_name = ModelNameFilter()
    model_version = ModelVersionFilter()
    request_id = django_filters.UUIDFilter(
        method="filter_request_id", help_text="Every row one request (or batch job) stored."
    )
    since = SinceFilter()
    until = UntilFilter()
    has_ground_truth = BooleanFilter(method="filter_has_ground_truth")

    class Meta:
        model = Prediction
        fields: list[str] = []

    def filter_request_id(self, queryset: QuerySet[Prediction], name: str, value: uuid.UUID) -> QuerySet[Prediction]:
        """Return the request's rows, bounded by the ids of its first and last row.

        PostgreSQL assumes a request's rows are spread evenly over the table, so for "WHERE
        request_id = ? ORDER BY id DESC LIMIT n" on a big request it walks the primary key backwards
        from the newest row through every row stored since: 2 s for an old 500,000-row batch at 10M
        rows (bench/admin_scale.py), even with an index on (request_id, id). Bounded by the ids of
        the request's first and last rows (two probes of the (request_id, row_index) index; a
        request's rows are written in row order, so their ids follow it), the walk starts at the
        request's last row.
        """
        rows = Prediction.objects.filter(request_id=value).order_by("row_index").values_list("id", flat=True)
        first = rows.first()
        if first is None:
            return queryset.none()
        return queryset.filter(request_id=value, id__range=(first, rows.last()))

    def filter_has_ground_truth(self, queryset: QuerySet[Prediction], name: str, value: bool) -> QuerySet[Prediction]:
        return queryset.filter(ground_truth_at__isnull=not value)
