"""Admin for the prediction store: a big, append-only table, browsed read-only."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdmin
from predictions.filters import PredictionFilter
from predictions.models import Prediction
from registry.filters import ModelNameListFilter, ModelVersionListFilter


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "model_name",
        "model_version",
        "created_at",
        "prediction",
        "ground_truth",
        "request_id",
        "row_index",
    )
    filterset_class = PredictionFilter
    # Choices from the ModelVersion mirror: a DISTINCT over the predictions took seconds at 5.5M rows.
    list_filter = (ModelNameListFilter, ModelVersionListFilter, "created_at")
    search_fields = ("=request_id",)
    date_hierarchy = "created_at"
    # No COUNT(*) over the whole table on every page (as healthchecks' PingsAdmin).
    show_full_result_count = False
    list_per_page = 50
    fields = (
        "model_name", "model_version", "request_id", "row_index", "inputs_table", "prediction", "probabilities",
        "ground_truth", "ground_truth_at", "created_at",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Inputs")
    def inputs_table(self, obj: Prediction) -> str:
        if not isinstance(obj.inputs, dict) or not obj.inputs:
            return format_html("<code>{}</code>", obj.inputs)
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", obj.inputs.items())
        return format_html("<table><tr><th>column</th><th>value</th></tr>{}</table>", rows)
