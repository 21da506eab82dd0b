"""Admin of jobs (read-only: workers write them) and retraining policies (operators edit them)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin
from core.exceptions import ApplicationError, NotFound
from models_api.filters import JobFilter
from models_api.models import Job, RetrainPolicy
from models_api.policies import PolicyFields, policy_fields_of, retrain_policy_put, retrain_policy_validate
from models_api.serializers import RetrainPolicyInput
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
        "id", "kind", "status", "model_name", "decision", "attempts", "rows_done", "drift_event", "payload", "result",
        "error", "traceback_block", "created_by", "created_at", "started_at", "heartbeat_at", "finished_at",
    )  # fmt: skip
    exclude = ("traceback",)

    @admin.display(description="Retrain decision")
    def decision(self, obj: Job) -> str:
        """Return a retrain's decision and its reason (from the result, or a failed job's error)."""
        if obj.kind != Job.Kind.RETRAIN:
            return "-"
        outcome = obj.result or ((obj.error or {}).get("error") or {}).get("details") or {}
        if not outcome.get("status"):
            return "-"
        return f"{outcome['status']}: {outcome.get('message', '')}"

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
