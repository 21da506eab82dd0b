"""Admin bases shared by the apps: read-only pages, big tables that are never counted, declared filters."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from core.filters import FilterSet


class OutOfRangeLookupsMixin:
    """Answer a changelist filter whose number the database can't take (``?created_at__year=10**30``)
    as Django answers any bad filter, with the unfiltered list and its error flag, not a 500."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)  # type: ignore[misc]
        except OverflowError:
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")


class ReadOnlyAdmin(OutOfRangeLookupsMixin, admin.ModelAdmin):
    """Rows operators read but never add or edit here: services write them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LookaheadPaginator(Paginator):
    """Pages without COUNT(*): it reads the page asked for plus one row, to know whether more follow.

    ``count`` is the rows up to this page, plus one when another page follows: all the changelist
    needs for its links. The templates of a big table say "more follow" rather than that number.
    """

    def __init__(self, object_list: Any, per_page: int, *, page_number: int, allow_empty_first_page: bool = True):
        super().__init__(object_list, per_page, allow_empty_first_page=allow_empty_first_page)
        self.page_number = max(page_number, 1)

    @cached_property
    def _rows(self) -> list[Any]:
        bottom = (self.page_number - 1) * self.per_page
        return list(self.object_list[bottom : bottom + self.per_page + 1])

    @cached_property
    def count(self) -> int:
        return (self.page_number - 1) * self.per_page + len(self._rows)

    @property
    def has_more(self) -> bool:
        return len(self._rows) > self.per_page

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        if number == self.page_number:
            return Page(self._rows[: self.per_page], number, self)
        return super().page(number)


class LargeTableAdmin(ReadOnlyAdmin):
    """A read-only admin of a table too big to count, scan or facet on any page.

    List filters must come from small tables and searches must use an index (see the subclass).
    """

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    # "Show all" would load the whole table.
    list_max_show_all = 0

    def get_paginator(
        self, request: HttpRequest, queryset: QuerySet[Any], per_page: int, orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> LookaheadPaginator:  # fmt: skip
        try:
            page_number = int(request.GET.get("p", 1))
        except ValueError:
            page_number = 1
        return LookaheadPaginator(
            queryset, per_page, page_number=page_number, allow_empty_first_page=allow_empty_first_page
        )


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
