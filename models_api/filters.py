"""Declared filters of jobs: GET /jobs/ and its schema."""

from __future__ import annotations

import django_filters

from mlservice.filters import FilterSet, ModelNameFilter
from models_api.models import Job


class JobFilter(FilterSet):
    status = django_filters.ChoiceFilter(choices=Job.Status.choices)
    kind = django_filters.ChoiceFilter(choices=Job.Kind.choices)
    model_name = ModelNameFilter()

    class Meta:
        model = Job
        fields: list[str] = []
