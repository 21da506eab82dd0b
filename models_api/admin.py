"""Admin of jobs (read-only: workers write them) and retraining policies (operators edit them)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin
from core.charts import Bar, sparkline, stacked_bars
from core.exceptions import ApplicationError, NotFound
from models_api.filters import JobFilter
from models_api.models import Job, RetrainPolicy
from models_api.overview import ModelOverview, VersionOverview, model_overview, retrain_decision, verdict_of
from models_api.policies import PolicyFields, policy_fields_of, retrain_policy_put, retrain_policy_validate
from models_api.serializers import RetrainPolicyInput
from predictions.selectors import FEEDBACK_WINDOW
from registry.admin import ModelVersionAdmin, traceback_html
from registry.filters import ModelNameListFilter
from registry.models import ModelVersion


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "model_name", "status", "attempts", "created_at", "started_at", "finished_at")
    filterset_class = JobFilter
    list_filter = ("kind", "status", ModelNameListFilter, "created_at")
    search_fields = ("=id", "model_name")
    date_hierarchy = "created_at"
    readonly_fields = (
        "id", "kind", "status", "model_name", "decision", "attempts", "rows_done", "drift_event", "payload", "result",
        "error", "traceback_block", "created_by", "created_at", "started_at", "heartbeat_at", "finished_at",
    )  # fmt: skip
    exclude = ("traceback",)

    @admin.display(description="Retrain decision")
    def decision(self, obj: Job) -> str:
        """Return a retrain's decision and its reason (from the result, or a failed job's error)."""
        outcome = retrain_decision(obj)
        return f"{outcome['status']}: {outcome.get('message', '')}" if outcome else "-"

    @admin.display(description="Traceback")
    def traceback_block(self, obj: Job) -> str:
        return traceback_html(obj.traceback)


class RetrainPolicyForm(forms.ModelForm):
    """The policy as the admin edits it, validated like PUT /models/{name}/policy (same serializer and service)."""

    class Meta:
        model = RetrainPolicy
        fields = (
            "model_name", "retrain_on_drift", "min_drifted_share", "estimated_drop_metric", "estimated_drop_min",
            "data", "promote", "cooldown_s",
        )  # fmt: skip

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        metric, min_drop = cleaned.get("estimated_drop_metric"), cleaned.get("estimated_drop_min")
        if bool(metric) != (min_drop is not None):
            raise forms.ValidationError(
                {"estimated_drop_min": "Give both the metric and the minimum drop, or neither."}
            )
        body = {
            "retrain_on_drift": cleaned.get("retrain_on_drift"),
            "min_drifted_share": cleaned.get("min_drifted_share"),
            "retrain_on_estimated_drop": {"metric": metric, "min_drop": min_drop} if metric else None,
            "data": cleaned.get("data"),
            "promote": cleaned.get("promote"),
            "cooldown_s": cleaned.get("cooldown_s"),
        }
        serializer = RetrainPolicyInput(data=body)
        if not serializer.is_valid():
            raise forms.ValidationError(_form_errors(serializer.errors))
        model_name = cleaned.get("model_name") or (self.instance.model_name if self.instance.pk else "")
        try:
            retrain_policy_validate(model_name=model_name, fields=PolicyFields(**serializer.validated_data))
        except NotFound as exc:
            raise forms.ValidationError({"model_name": exc.message}) from exc
        except ApplicationError as exc:
            raise forms.ValidationError(_form_errors(exc.details) or exc.message) from exc
        return cleaned


def _form_errors(details: dict[str, Any]) -> dict[str, Any]:
    """Return DRF-style error details keyed by the admin form's fields."""
    fields = {"retrain_on_estimated_drop": "estimated_drop_min"}
    errors: dict[str, Any] = {}
    for key, reasons in details.items():
        field = fields.get(key.split(".")[0], key.split(".")[0])
        shown = reasons if isinstance(reasons, list) else [reasons]
        errors.setdefault(field if field in RetrainPolicyForm.Meta.fields else NON_FIELD_ERRORS, []).extend(
            map(str, shown)
        )
    return errors


@admin.register(RetrainPolicy)
class RetrainPolicyAdmin(admin.ModelAdmin):
    """Operators edit policies here; every save goes through the service (as PUT does)."""

    form = RetrainPolicyForm
    list_display = (
        "model_name", "retrain_on_drift", "min_drifted_share", "estimated_drop", "promote", "cooldown_s",
        "last_triggered_at", "last_job_link",
    )  # fmt: skip
    search_fields = ("model_name",)
    readonly_fields = ("last_triggered_at", "last_job_link", "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: RetrainPolicy | None = None) -> tuple[str, ...]:
        # Another name would be another model's policy: add that one instead.
        return ("model_name", *self.readonly_fields) if obj else self.readonly_fields

    @admin.display(description="Estimated drop")
    def estimated_drop(self, obj: RetrainPolicy) -> str:
        return f"{obj.estimated_drop_metric} by {obj.estimated_drop_min}" if obj.estimated_drop_metric else "-"

    @admin.display(description="Last job")
    def last_job_link(self, obj: RetrainPolicy) -> str:
        if obj.last_job_id is None:
            return "-"
        url = reverse("admin:models_api_job_change", args=[obj.last_job_id])
        return format_html('<a href="{}">{}</a>', url, obj.last_job_id)

    def save_model(self, request: HttpRequest, obj: RetrainPolicy, form: Any, change: bool) -> None:
        saved, _ = retrain_policy_put(model_name=obj.model_name, fields=policy_fields_of(obj))
        obj.pk = saved.pk


@admin.register(ModelVersion)
class ModelVersionOperatorAdmin(ModelVersionAdmin):
    """The versions list, each row linked to the operator's page of its model (a view of this admin)."""

    list_display = ("model_page_link", "version", "aliases_shown", "estimator", "fast_path", "created_at", "run")
    list_display_links = ("version",)

    @admin.display(description="Registered model", ordering="registered_model_name")
    def model_page_link(self, obj: ModelVersion) -> str:
        url = reverse("admin:registry_modelversion_model", args=[obj.registered_model_name])
        return format_html('<a href="{}" title="The operator\'s page of this model">{}</a>', url,
                           obj.registered_model_name)  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: ModelVersion | None = None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "model_page_link")

    def get_urls(self) -> list[URLPattern]:
        page = path(
            "model/<str:name>/", self.admin_site.admin_view(self.model_view), name="registry_modelversion_model"
        )
        return [page, *super().get_urls()]

    def model_view(self, request: HttpRequest, name: str) -> HttpResponse:
        """Render the operator's page of a registered model (staff with the view permission on versions)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            overview = model_overview(name=name)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        context = {
            **self.admin_site.each_context(request),
            "title": f"Model {name}",
            "subtitle": None,
            # The page is wide (ten columns and a chart): no app list beside it.
            "is_nav_sidebar_enabled": False,
            "opts": self.opts,
            "overview": overview,
            "volume_chart": _volume_chart(overview),
            "volume_total": sum(day.predictions for day in overview.volume),
            "rows": [_version_row(row, overview) for row in overview.versions],
            "jobs": [_job_row(job) for job in overview.jobs],
            "policy": overview.policy,
            "can_change_policy": request.user.has_perm("models_api.change_retrainpolicy"),
            "can_add_policy": request.user.has_perm("models_api.add_retrainpolicy"),
            "feedback_window": FEEDBACK_WINDOW,
        }
        return TemplateResponse(request, "admin/models_api/model_overview.html", context)


def _version_key(version: str) -> tuple[int, str]:
    return (int(version) if version.isdigit() else 0, version)


def _volume_chart(overview: ModelOverview) -> str:
    bars = [
        Bar(label=day.day.isoformat(), segments=sorted(day.by_version.items(), key=lambda item: _version_key(item[0])))
        for day in overview.volume
    ]
    return stacked_bars(bars, title=f"Predictions per day of {overview.name}")


def _version_row(row: VersionOverview, overview: ModelOverview) -> dict[str, Any]:
    """Return what the versions table shows of a version: links, verdict, sparklines, feedback."""
    version = row.version.version
    estimates = row.estimates
    latest_estimate = row.latest_estimate
    latest = row.latest
    return {
        "version": row.version,
        "change_url": reverse("admin:registry_modelversion_change", args=[row.version.pk]),
        "fast_path": row.version.fast_path or "-",
        "predictions": sum(day.by_version.get(version, 0) for day in overview.volume),
        "monitored": row.monitored,
        "verdict": verdict_of(latest),
        "drifted": bool(latest and latest.drift_detected),
        "latest": latest,
        "latest_url": reverse("admin:drift_driftevent_change", args=[latest.pk]) if latest else "",
        "checks": len(row.checks),
        "drift_line": sparkline(
            [check.drifted_share for check in row.checks],
            alerts=[check.drift_detected for check in row.checks],
            title=f"Drifted share of the last {len(row.checks)} checks of v{version}",
        ),
        "estimate": latest_estimate,
        "estimate_line": sparkline(
            [estimate.value if estimate else None for estimate in estimates],
            alerts=[bool(estimate and estimate.alert) for estimate in estimates],
            reference=latest_estimate.reference if latest_estimate else None,
            title=f"Estimated {latest_estimate.metric if latest_estimate else 'performance'} of the last checks"
            f" of v{version} (dashed: reference)",
        ),
        "realized": row.realized,
    }


def _job_row(job: Job) -> dict[str, Any]:
    """Return what the jobs table shows of a job: its outcome in words, and its links."""
    result = job.result or {}
    outcome = retrain_decision(job)
    if outcome:
        summary = f"{outcome['status']}: {outcome.get('message', '')}"
    elif job.status == Job.Status.FAILED:
        summary = str(((job.error or {}).get("error") or {}).get("message", "failed"))
    elif job.kind == Job.Kind.TRAIN and result.get("model_version"):
        summary = f"registered v{result['model_version']}"
    elif job.kind == Job.Kind.DRIFT_CHECK and result.get("event_id"):
        summary = f"check {result['event_id']}"
    else:
        summary = "-"
    return {
        "job": job,
        "url": reverse("admin:models_api_job_change", args=[job.pk]),
        "decision": outcome.get("status", ""),
        "summary": summary,
        "event_url": reverse("admin:drift_driftevent_change", args=[job.drift_event_id]) if job.drift_event_id else "",
    }
