"""View bases shared by the apps' list endpoints."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    """Cursor pages (stable under inserts, no COUNT) of big, append-mostly tables."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-created_at"
