"""Admin bases shared by the apps: read-only pages, declared filters."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from core.filters import FilterSet


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows operators read but never add or edit here: services write them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FilterSetListFilter(admin.SimpleListFilter):
    """A list filter that applies the filter of the same name of the admin's ``filterset_class``.

    The admin then filters exactly as the API does (same validation, same lookups); a bad value in
    the URL is an invalid lookup, which the changelist answers by dropping the filters (``?e=1``).
    Subclasses give ``title``, ``parameter_name`` and ``lookups()``.
    """

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: type[Model], model_admin: Any) -> None:
        self.filterset_class: type[FilterSet] = model_admin.filterset_class
        super().__init__(request, params, model, model_admin)

    def has_output(self) -> bool:
        # Shown, and so applied, whenever the URL sets it: even to a value the choices lack.
        return bool(self.lookup_choices) or self.value() is not None

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if not value:
            return None
        filterset = self.filterset_class({self.parameter_name: value}, queryset=queryset)
        if not filterset.is_valid():
            raise IncorrectLookupParameters(filterset.errors)
        return filterset.qs
