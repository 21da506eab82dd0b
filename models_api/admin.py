"""Admin for the Run mirror: what operators open first when something failed."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from models_api.filters import JobFilter
from models_api.models import Job
from registry.admin import traceback_html
from registry.filters import ModelNameListFilter


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "model_name", "status", "attempts", "created_at", "started_at", "finished_at")
    filterset_class = JobFilter
    list_filter = ("kind", "status", ModelNameListFilter, "created_at")
    search_fields = ("=id", "model_name")
    date_hierarchy = "created_at"
    readonly_fields = (
        "id", "kind", "status", "model_name", "attempts", "rows_done", "payload", "result", "error", "traceback_block",
        "created_by", "created_at", "started_at", "heartbeat_at", "finished_at",
    )  # fmt: skip
    exclude = ("traceback",)

    @admin.display(description="Traceback")
    def traceback_block(self, obj: Job) -> str:
        return traceback_html(obj.traceback)
