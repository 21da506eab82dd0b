"""Declared filters of jobs and runs, and the admin's model and version filters.

The admin's choices of model and version come from the ModelVersion mirror (a row per registered
version), never from a DISTINCT over the table being filtered: at 10M predictions that DISTINCT
alone took seconds.
"""

from __future__ import annotations

import django_filters

from core.filters import FilterSet, ModelNameFilter
from models_api.models import Job


class JobFilter(FilterSet):
    status = django_filters.ChoiceFilter(choices=Job.Status.choices)
    kind = django_filters.ChoiceFilter(choices=Job.Kind.choices)
    model_name = ModelNameFilter()

    class Meta:
        model = Job
        fields: list[str] = []
