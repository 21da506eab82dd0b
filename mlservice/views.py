"""View bases shared by the apps' list endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    """Cursor pages (stable under inserts, no COUNT) of big, append-mostly tables."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-created_at"


class FilteredListView(ListAPIView):
    """A list whose query-string filters are validated by a serializer and applied by a selector.

    Subclasses declare ``serializer_class``, ``filter_serializer_class`` and ``selector``.
    """

    pagination_class = NewestFirstPagination
    filter_serializer_class: type[serializers.Serializer]
    selector: Callable[..., QuerySet[Any]]

    def get_queryset(self) -> QuerySet[Any]:
        filters = self.filter_serializer_class(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return type(self).selector(**filters.validated_data)
