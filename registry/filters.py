"""Declared filters of runs, and the admin's model and version filters.

The admin's choices of model and version come from the ModelVersion mirror (a row per registered
version), never from a DISTINCT over the table being filtered: at 10M predictions that DISTINCT
alone took seconds.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from core.admin import FilterSetListFilter
from core.filters import FilterSet, ModelNameFilter, ModelVersionFilter
from registry.models import ModelVersion, Run


class RunFilter(FilterSet):
    model_name = ModelNameFilter(field_name="registered_model_name")
    model_version = ModelVersionFilter()

    class Meta:
        model = Run
        fields: list[str] = []


class ModelNameListFilter(FilterSetListFilter):
    """The admin's "by model" filter: the registered models the mirror knows."""

    title = "model"
    parameter_name = "model_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = ModelVersion.objects.order_by("registered_model_name").values_list("registered_model_name", flat=True)
        return [(name, name) for name in names.distinct()]


class ModelVersionListFilter(FilterSetListFilter):
    """The admin's "by version" filter: the versions of the chosen model (of every model when none is)."""

    title = "version"
    parameter_name = "model_version"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        versions = ModelVersion.objects.all()
        if name := request.GET.get(ModelNameListFilter.parameter_name):
            versions = versions.filter(registered_model_name=name)
        numbers = sorted(set(versions.values_list("version", flat=True)), key=lambda number: (len(number), number))
        return [(number, number) for number in numbers]
