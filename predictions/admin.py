"""Admin for the prediction store: a big, append-only table, browsed read-only.

At 10M rows every page must stay cheap: pages are never counted, the model and version filters
take their choices from the ModelVersion mirror, and a search is an exact look-up of a request id
or a prediction id through an index (no date hierarchy: its DISTINCT over dates scans the table).
Measured with bench/admin_scale.py.
"""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from core.admin import LargeTableAdmin
from core.filters import filters_apply
from predictions.filters import PredictionFilter
from predictions.models import Prediction
from registry.filters import ModelNameListFilter, ModelVersionListFilter

# The largest value of the bigint primary key: a bigger number can't be a prediction id.
MAX_ID = 2**63 - 1


@admin.register(Prediction)
class PredictionAdmin(LargeTableAdmin):
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
    list_filter = (ModelNameListFilter, ModelVersionListFilter)
    search_fields = ("=request_id", "=id")
    search_help_text = "A request id (UUID) or a prediction id, exactly."
    list_per_page = 50
    fields = (
        "model_name", "model_version", "request_id", "row_index", "inputs_table", "prediction", "probabilities",
        "ground_truth", "ground_truth_at", "created_at",
    )  # fmt: skip
    readonly_fields = fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Prediction], search_term: str
    ) -> tuple[QuerySet[Prediction], bool]:
        """Return the rows of the request id, or the prediction of the id; nothing for any other term.

        The term is parsed here, so the column is never cast to text and no search scans the table.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            request_id = uuid.UUID(term)
        except ValueError:
            pass
        else:
            # Through the API's filter: it bounds a big request's rows by their ids (see PredictionFilter).
            return filters_apply(PredictionFilter, {"request_id": str(request_id)}, queryset), False
        if term.isascii() and term.isdigit() and int(term) <= MAX_ID:
            return queryset.filter(id=int(term)), False
        return queryset.none(), False

    @admin.display(description="Inputs")
    def inputs_table(self, obj: Prediction) -> str:
        if not isinstance(obj.inputs, dict) or not obj.inputs:
            return format_html("<code>{}</code>", obj.inputs)
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", obj.inputs.items())
        return format_html("<table><tr><th>column</th><th>value</th></tr>{}</table>", rows)
