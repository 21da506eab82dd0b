"""Admin for drift samples, drift events and monitored versions."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.admin import ReadOnlyAdmin
from drift.filters import DriftEventFilter
from drift.models import DriftEvent, DriftSample, VersionMonitor
from drift.reports import drift_report_response
from registry.filters import ModelNameListFilter, ModelVersionListFilter


@admin.register(DriftSample)
class DriftSampleAdmin(ReadOnlyAdmin):
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

    @admin.display(description="Columns")
    def column_count(self, obj: DriftSample) -> int:
        return len(obj.columns)

    @admin.display(description="Column types")
    def dtypes_table(self, obj: DriftSample) -> str:
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", obj.dtypes.items())
        if not obj.dtypes:
            return "-"
        return format_html("<table><tr><th>column</th><th>dtype</th></tr>{}</table>", rows)


@admin.register(DriftEvent)
class DriftEventAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "registered_model_name",
        "model_version",
        "trigger",
        "verdict",
        "drifted_share",
        "subject_rows",
        "created_at",
    )
    filterset_class = DriftEventFilter
    list_filter = (ModelNameListFilter, ModelVersionListFilter, "drift_detected", "trigger", "status", "created_at")
    search_fields = ("registered_model_name", "run__run_name")
    # No date hierarchy: its DISTINCT over every event's month scans a table monitoring keeps growing.
    list_select_related = ("run",)
    raw_id_fields = ("drift_sample", "run")
    show_full_result_count = False
    # Rendering the rows is most of the page (measured by bench/admin_scale.py): 50 a page.
    list_per_page = 50
    exclude = ("features", "distributions", "methods", "data_quality", "estimated_performance", "prediction_drift",
               "multivariate", "retrain_job_id")  # fmt: skip
    readonly_fields = (
        "registered_model_name", "model_version", "trigger", "status", "verdict", "drifted_share", "report_link",
        "feature_table", "data_quality_alert", "quality_table", "estimate_table", "prediction_drift_shown",
        "multivariate_shown", "baseline_kind", "drift_sample", "baseline_rows",
        "subject_rows", "chunk_size", "methods_shown", "alpha", "correction", "message", "subject_file", "run",
        "retrain_job_link", "created_at", "updated_at",
    )  # fmt: skip

    @admin.display(description="Retrain job")
    def retrain_job_link(self, obj: DriftEvent) -> str:
        if obj.retrain_job_id is None:
            return "-"
        # By URL name: jobs live in models_api, a layer above this app.
        url = reverse("admin:models_api_job_change", args=[obj.retrain_job_id])
        return format_html('<a href="{}">{}</a>', url, obj.retrain_job_id)

    @admin.display(description="Verdict", ordering="drift_detected")
    def verdict(self, obj: DriftEvent) -> str:
        if obj.status == DriftEvent.Status.INSUFFICIENT_DATA:
            return "insufficient data"
        return "DRIFT" if obj.drift_detected else "no drift"

    @admin.display(description="Report")
    def report_link(self, obj: DriftEvent) -> str:
        url = reverse("admin:drift_driftevent_report", args=[obj.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">open the report</a>', url)

    @admin.display(description="Methods")
    def methods_shown(self, obj: DriftEvent) -> str:
        return ", ".join(f"{kind}: {method}" for kind, method in obj.methods.items()) or "-"

    @admin.display(description="Features")
    def feature_table(self, obj: DriftEvent) -> str:
        if not obj.features:
            return obj.message or "-"
        rows = format_html_join(
            "",
            '<tr style="{}">' + "<td>{}</td>" * 8 + "</tr>",
            (
                ("background:#fde2e1" if f["alert"] else "", f["column"], f["kind"], f["method"],
                 _number(f["value"]), _number(f.get("p_value")), _number(f.get("adjusted_p_value")),
                 _number(f["threshold"]), "ALERT" if f["alert"] else "-")
                for f in obj.features
            ),
        )  # fmt: skip
        header = (
            "<tr><th>column</th><th>kind</th><th>method</th><th>value</th><th>p-value</th><th>adjusted</th>"
            "<th>threshold</th><th>alert</th></tr>"
        )
        rule = format_html("<p>{}</p>", obj.rule) if obj.rule else ""
        return format_html("{}<table>{}{}</table>", rule, mark_safe(header), rows)  # noqa: S308 (constant markup)

    @admin.display(description="Data quality")
    def quality_table(self, obj: DriftEvent) -> str:
        if not obj.data_quality:
            return "-"
        rows = format_html_join(
            "",
            '<tr style="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                ("background:#fde2e1" if q["alert"] else "", q["column"], f"{q['missing_baseline']:.1%}",
                 f"{q['missing_subject']:.1%}", ", ".join(q["unseen_categories"]) or "-", f"{q['unseen_share']:.1%}",
                 "; ".join(q["reasons"]) or "-")
                for q in obj.data_quality
            ),
        )  # fmt: skip
        header = (
            "<tr><th>column</th><th>missing (baseline)</th><th>missing (data)</th><th>unseen categories</th>"
            "<th>unseen share</th><th>alert</th></tr>"
        )
        return format_html("<table>{}{}</table>", mark_safe(header), rows)  # noqa: S308 (constant markup)

    @admin.display(description="Estimated performance")
    def estimate_table(self, obj: DriftEvent) -> str:
        estimate = obj.estimated_performance
        if not estimate:
            return "- (no model version)"
        if estimate.get("reason"):
            return estimate["reason"]
        entries = {estimate["metric"]: estimate, **estimate.get("metrics", {})}
        rows = format_html_join(
            "",
            '<tr style="{}"><td>{}</td><td>{}</td><td>{} - {}</td><td>{}</td><td>{} - {}</td><td>{} - {}</td>'
            "<td>{}</td><td>{}</td></tr>",
            (
                ("background:#fde2e1" if e["alert"] else "", metric, _number(e["value"]), _number(e["lower"]),
                 _number(e["upper"]), _number(e["reference_value"]), _number(e["reference_lower"]),
                 _number(e["reference_upper"]), _number(e["lower_threshold"]), _number(e["upper_threshold"]),
                 _number(e["realized"]), "ALERT" if e["alert"] else "-")
                for metric, e in entries.items()
            ),
        )  # fmt: skip
        header = (
            "<tr><th>metric</th><th>estimate</th><th>confidence band</th><th>reference</th><th>reference band</th>"
            "<th>nannyml thresholds</th><th>realized</th><th>alert</th></tr>"
        )
        caption = format_html(
            "<p>{} on {} rows ({} with feedback); thresholds over drift-sample chunks of {} rows.</p>",
            str(estimate["method"]).upper(), estimate["rows"], estimate["labelled_rows"], estimate["chunk_size"],
        )  # fmt: skip
        return format_html("{}<table>{}{}</table>", caption, mark_safe(header), rows)  # noqa: S308 (constant markup)

    @admin.display(description="Prediction drift")
    def prediction_drift_shown(self, obj: DriftEvent) -> str:
        signal = obj.prediction_drift
        if not signal:
            return "- (no model version)"
        if signal.get("reason"):
            return signal["reason"]
        measure = (
            f"p-value {_number(signal.get('adjusted_p_value'))}"
            if signal.get("p_value") is not None
            else f"threshold {_number(signal.get('threshold'))}"
        )
        return format_html(
            "{} {} ({}){}", signal["method"], _number(signal["value"]), measure, " ALERT" if signal["alert"] else ""
        )

    @admin.display(description="Multivariate drift")
    def multivariate_shown(self, obj: DriftEvent) -> str:
        signal = obj.multivariate
        if not signal:
            return "-"
        if signal.get("reason"):
            return signal["reason"]
        return format_html(
            "PCA reconstruction error {} (band {} - {}){}", _number(signal["value"]), _number(signal["lower"]),
            _number(signal["upper"]), " ALERT" if signal["alert"] else "",
        )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[DriftEvent]:
        # The histograms serve the report alone (it reads the event itself); the change page loads
        # the rest of what it shows when it shows it.
        deferred = ("features", "distributions", "methods", "data_quality", "estimated_performance",
                    "prediction_drift", "multivariate")  # fmt: skip
        return super().get_queryset(request).defer(*deferred)

    def get_urls(self) -> list:
        report = path("<int:pk>/report/", self.admin_site.admin_view(self.report_view), name="drift_driftevent_report")
        return [report, *super().get_urls()]

    def report_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return drift_report_response(event_id=pk)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@admin.register(VersionMonitor)
class VersionMonitorAdmin(ReadOnlyAdmin):
    """Monitored versions: when each was last checked, the newest prediction that check saw, its checks."""

    list_display = ("registered_model_name", "model_version", "last_check_at", "last_prediction_id", "checks_link")
    # One row per served version: a small table, so a plain filter on the name is cheap.
    list_filter = ("registered_model_name",)
    search_fields = ("registered_model_name", "model_version")
    readonly_fields = ("registered_model_name", "model_version", "last_check_at", "last_prediction_id",
                       "checks_link", "created_at", "updated_at")  # fmt: skip

    @admin.display(description="Checks")
    def checks_link(self, obj: VersionMonitor) -> str:
        query = urlencode({"model_name": obj.registered_model_name, "model_version": obj.model_version})
        return format_html('<a href="{}?{}">drift events</a>', reverse("admin:drift_driftevent_changelist"), query)
