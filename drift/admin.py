"""Admin for drift samples."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from drift.models import DriftSample


@admin.register(DriftSample)
class DriftSampleAdmin(admin.ModelAdmin):
    list_display = ("id", "registered_model_name", "model_version", "rows", "column_count", "created_at")
    list_filter = ("registered_model_name", "created_at")
    search_fields = ("id", "registered_model_name", "model_version", "file")
    list_select_related = ("run",)
    raw_id_fields = ("run",)
    readonly_fields = (
        "id",
        "file",
        "rows",
        "columns",
        "dtypes_table",
        "target",
        "registered_model_name",
        "model_version",
        "run",
        "created_at",
        "updated_at",
    )
    exclude = ("dtypes",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DriftSample | None = None) -> bool:
        return False

    @admin.display(description="Columns")
    def column_count(self, obj: DriftSample) -> int:
        return len(obj.columns)

    @admin.display(description="Column types")
    def dtypes_table(self, obj: DriftSample) -> str:
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", obj.dtypes.items())
        if not obj.dtypes:
            return "-"
        return format_html("<table><tr><th>column</th><th>dtype</th></tr>{}</table>", rows)
