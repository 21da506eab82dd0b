"""Admin of the mirrors: runs (what operators open first when something failed) and model versions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin
from core.exceptions import ApplicationError
from registry.clients import run_url
from registry.filters import ModelNameListFilter, ModelVersionListFilter, RunFilter
from registry.models import ModelVersion, Run
from registry.services import model_alias_set


def traceback_html(text: str) -> str:
    """Return a traceback as readable, escaped preformatted text."""
    if not text:
        return "-"
    return format_html('<pre style="white-space: pre-wrap; font-size: 12px">{}</pre>', text)


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = (
        "run_name",
        "kind",
        "status",
        "registered_model_name",
        "model_version",
        "started_at",
        "duration",
        "mlflow_link",
    )
    filterset_class = RunFilter
    list_filter = ("kind", "status", ModelNameListFilter, ModelVersionListFilter, "started_at")
    search_fields = ("run_name", "mlflow_run_id", "registered_model_name")
    # Runs grow with traffic (an infer run per window): no full count, and no date hierarchy (its
    # DISTINCT over every run's month scans the table); the started_at filter's choices are fixed.
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = (
        "run_name",
        "kind",
        "status",
        "mlflow_run_id",
        "mlflow_link",
        "registered_model_name",
        "model_version",
        "params",
        "metrics",
        "error",
        "traceback_block",
        "started_at",
        "finished_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "run_name",
                    "kind",
                    "status",
                    "registered_model_name",
                    "model_version",
                    "mlflow_run_id",
                    "mlflow_link",
                )
            },
        ),
        ("Timing", {"fields": ("started_at", "finished_at")}),
        ("Failure", {"fields": ("error", "traceback_block")}),
        ("Spec and results", {"fields": ("params", "metrics")}),
        ("Bookkeeping", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    @admin.display(description="MLflow")
    def mlflow_link(self, obj: Run) -> str:
        url = run_url(experiment_id=obj.mlflow_experiment_id, run_id=obj.mlflow_run_id)
        if not url:
            return obj.mlflow_run_id or "-"
        return format_html('<a href="{}" target="_blank" rel="noopener">open run</a>', url)

    @admin.display(description="Traceback")
    def traceback_block(self, obj: Run) -> str:
        return traceback_html(obj.traceback)

    @admin.display(description="Duration")
    def duration(self, obj: Run) -> str:
        if not obj.finished_at:
            return "-"
        return f"{(obj.finished_at - obj.started_at).total_seconds():.1f} s"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Run]:
        return super().get_queryset(request).defer("traceback")


# Registered by models_api.admin, whose subclass adds the operator's page of a model: that page shows
# jobs and policies, which live in models_api, a layer above this app.
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("registered_model_name", "version", "aliases_shown", "estimator", "fast_path", "created_at", "run")
    list_filter = ("registered_model_name", "estimator")
    search_fields = ("registered_model_name", "version")
    list_select_related = ("run",)
    readonly_fields = ("registered_model_name", "version", "aliases", "estimator", "fast_path", "drift_sample_id",
                       "run", "metrics", "created_at", "updated_at")  # fmt: skip
    actions = ["promote_to_production"]

    def has_delete_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        return False

    @admin.display(description="Aliases")
    def aliases_shown(self, obj: ModelVersion) -> str:
        return ", ".join(obj.aliases) or "-"

    @admin.action(description="Promote the selected version to production")
    def promote_to_production(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.values("registered_model_name").distinct().count() != queryset.count():
            self.message_user(request, "Select at most one version per model.", level=messages.ERROR)
            return
        for row in queryset:
            try:
                model_alias_set(name=row.registered_model_name, alias="production", version=row.version)
            except ApplicationError as exc:
                self.message_user(request, f"{row}: {exc.message}", level=messages.ERROR)
            else:
                self.message_user(request, f"{row} is now production.", level=messages.SUCCESS)
