"""Declared filters of drift events: GET /drift-events/, its schema and the admin."""

from __future__ import annotations

import django_filters

from core.filters import BooleanFilter, FilterSet, ModelNameFilter, ModelVersionFilter, SinceFilter, UntilFilter
from drift.models import DriftEvent


class DriftEventFilter(FilterSet):
    model_name = ModelNameFilter(field_name="registered_model_name")
    model_version = ModelVersionFilter()
    drift_detected = BooleanFilter()
    trigger = django_filters.ChoiceFilter(choices=DriftEvent.Trigger.choices)
    since = SinceFilter()
    until = UntilFilter()

    class Meta:
        model = DriftEvent
        fields: list[str] = []
