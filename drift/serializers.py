"""Serializers of the drift endpoints."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.naming import MODEL_NAME_PATTERN
from core.serializers import DatasetField
from drift.clients import CATEGORICAL_METHODS, CONTINUOUS_METHODS
from drift.comparison import AUTO, CATEGORICAL_CHOICES, CHI2_TEST, CONTINUOUS_CHOICES, CORRECTIONS, KS_TEST
from drift.models import DriftEvent
from registry.serializers import ModelSelectionInput

THRESHOLD_METHODS = sorted(set(CONTINUOUS_METHODS) | set(CATEGORICAL_METHODS))


class DriftMethodsInput(serializers.Serializer):
    continuous = serializers.ChoiceField(
        choices=CONTINUOUS_CHOICES, default=AUTO,
        help_text=f"{AUTO}: {KS_TEST} (Kolmogorov-Smirnov test) on small samples, calibrated Jensen-Shannon "
        "distance on large ones; or a named method.",
    )  # fmt: skip
    categorical = serializers.ChoiceField(
        choices=CATEGORICAL_CHOICES, default=AUTO,
        help_text=f"{AUTO}: {CHI2_TEST} (chi-square test of homogeneity) on small samples, calibrated "
        "Jensen-Shannon distance on large ones; or a named method.",
    )  # fmt: skip


class DataDriftInput(ModelSelectionInput):
    model_name = serializers.RegexField(MODEL_NAME_PATTERN, max_length=100, required=False, default="")
    # DRF's metaclass moves declared fields off the class, so this doesn't shadow Serializer.data.
    data = DatasetField()  # type: ignore[assignment]
    baseline = DatasetField(required=False, allow_null=True, default=None)
    columns = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True, default=None, allow_empty=False
    )
    methods = DriftMethodsInput(required=False, default=dict)
    thresholds = serializers.DictField(
        child=serializers.JSONField(), required=False, default=dict,
        help_text='Per method: a number (constant upper bound), {"lower", "upper"}, or {"std_upper_multiplier"}. '
        "Default: nannyml's (mean + 3 std of the baseline's chunks).",
    )  # fmt: skip
    alpha = serializers.FloatField(
        min_value=0.0001, max_value=0.5, default=None, allow_null=True,
        help_text="Family-wise level of the tests (default MLSERVICE_DRIFT_ALPHA, 0.05).",
    )  # fmt: skip
    correction = serializers.ChoiceField(
        choices=CORRECTIONS, default=None, allow_null=True,
        help_text="Multiple-testing correction over the tested columns (default benjamini_hochberg).",
    )  # fmt: skip
    save_subject = serializers.BooleanField(default=False)

    def validate_thresholds(self, value: dict[str, Any]) -> dict[str, Any]:
        for method, spec in value.items():
            if method not in THRESHOLD_METHODS:
                raise serializers.ValidationError(
                    f"unknown method {method!r}; use one of {', '.join(THRESHOLD_METHODS)}."
                )
            if isinstance(spec, bool) or not isinstance(spec, int | float | dict):
                raise serializers.ValidationError(f"{method}: a number or an object.")
            if isinstance(spec, dict):
                allowed = {"lower", "upper", "std_lower_multiplier", "std_upper_multiplier"}
                if (
                    not spec
                    or set(spec) - allowed
                    or not all(isinstance(v, int | float) or v is None for v in spec.values())
                ):
                    raise serializers.ValidationError(f"{method}: keys among {', '.join(sorted(allowed))}, numbers.")
        return value

    def validate_methods(self, value: dict[str, Any]) -> dict[str, str]:
        return {"continuous": AUTO, "categorical": AUTO, **value}


class FeatureDriftOutput(serializers.Serializer):
    column = serializers.CharField()
    kind = serializers.CharField()
    method = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text="The test's statistic, or the distance.")
    p_value = serializers.FloatField(allow_null=True, default=None, help_text="Tests only.")
    adjusted_p_value = serializers.FloatField(
        allow_null=True, default=None, help_text="Tests only: adjusted over the family; alert when below alpha."
    )
    threshold = serializers.FloatField(allow_null=True, default=None, help_text="Distances only.")
    lower_threshold = serializers.FloatField(allow_null=True, default=None)
    alert = serializers.BooleanField()


class ColumnQualityOutput(serializers.Serializer):
    column = serializers.CharField()
    missing_baseline = serializers.FloatField(help_text="Share of baseline rows missing this column.")
    missing_subject = serializers.FloatField()
    missing_p_value = serializers.FloatField(allow_null=True, help_text="Fisher's exact test of the two rates.")
    unseen_categories = serializers.ListField(child=serializers.CharField())
    unseen_share = serializers.FloatField(help_text="Share of subject rows in categories the baseline lacks.")
    expected_unseen_share = serializers.FloatField(
        allow_null=True, help_text="What the baseline predicts for unseen categories (Good-Turing)."
    )
    unseen_p_value = serializers.FloatField(allow_null=True)
    alert = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())


class PredictionDriftOutput(FeatureDriftOutput):
    """The model's outputs on the data against its outputs on the drift sample, like a feature."""

    kind = serializers.CharField(allow_null=True)
    method = serializers.CharField(allow_null=True)
    reason = serializers.CharField(help_text="Why there is no value, when there is none.")


class MetricEstimateOutput(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="The estimate on the whole data, without labels.")
    lower = serializers.FloatField(allow_null=True, help_text="The estimate's confidence band: -3 sampling errors.")
    upper = serializers.FloatField(allow_null=True, help_text="The estimate's confidence band: +3 sampling errors.")
    sampling_error = serializers.FloatField(allow_null=True, help_text="nannyml's sampling error at this size.")
    reference_value = serializers.FloatField(allow_null=True, help_text="Realized on the labelled drift sample.")
    reference_lower = serializers.FloatField(
        allow_null=True, help_text="The reference band: reference_value - 3 sampling errors of a window this size."
    )
    reference_upper = serializers.FloatField(allow_null=True)
    lower_threshold = serializers.FloatField(
        allow_null=True, help_text="nannyml's threshold band over the drift sample's chunks of chunk_size rows."
    )
    upper_threshold = serializers.FloatField(allow_null=True)
    realized = serializers.FloatField(allow_null=True, help_text="From feedback in the window, when there is some.")
    alert = serializers.BooleanField(
        help_text="Outside nannyml's threshold band (windows of at least chunk_size rows), or worse than the "
        "reference band (below it for a score, above it for a loss)."
    )


class EstimatedPerformanceOutput(MetricEstimateOutput):
    """Performance estimated without labels: CBPE for classifiers, DLE for regressors."""

    metric = serializers.CharField(allow_null=True, help_text="accuracy (CBPE) or mae (DLE); null when unknown.")
    method = serializers.CharField(allow_null=True)
    chunk_size = serializers.IntegerField(allow_null=True, help_text="Rows per drift-sample chunk of the thresholds.")
    rows = serializers.IntegerField(allow_null=True)
    labelled_rows = serializers.IntegerField(help_text="Rows of the data with feedback (the realized values' rows).")
    metrics = serializers.DictField(child=MetricEstimateOutput(), help_text="roc_auc and f1 (CBPE), or rmse (DLE).")
    reason = serializers.CharField(help_text="Why there is no estimate, when there is none.")


class MultivariateDriftOutput(serializers.Serializer):
    method = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text="Mean PCA reconstruction error of the data.")
    lower = serializers.FloatField(allow_null=True)
    upper = serializers.FloatField(allow_null=True, help_text="The baseline's band (nannyml: mean +- 3 std).")
    alert = serializers.BooleanField()
    chunk_size = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(help_text="Why there is no value (e.g. the baseline is too small).")


class DriftEventOutput(serializers.ModelSerializer):
    """A recorded check, as POST /data-drift answers it and GET /drift-events/ lists it."""

    status = serializers.SerializerMethodField()
    event_id = serializers.IntegerField(source="id")
    model_name = serializers.CharField(source="registered_model_name")
    features = FeatureDriftOutput(many=True)
    data_quality = ColumnQualityOutput(many=True)
    estimated_performance = EstimatedPerformanceOutput(
        allow_null=True, help_text="Null for a check with no model version (a baseline given, no model_name)."
    )
    prediction_drift = PredictionDriftOutput(allow_null=True, help_text="Not counted in drift_detected.")
    multivariate = MultivariateDriftOutput(allow_null=True, help_text="Not counted in drift_detected.")
    baseline = serializers.SerializerMethodField()
    rows = serializers.SerializerMethodField()
    run_name = serializers.CharField(source="run.run_name", default=None)
    report_url = serializers.SerializerMethodField()
    retrain_job_id = serializers.UUIDField(
        allow_null=True, help_text="The retrain job the model's retraining policy enqueued on this check, if any."
    )

    class Meta:
        model = DriftEvent
        fields = (
            "status", "event_id", "model_name", "model_version", "trigger", "drift_detected", "drifted_share",
            "rule", "alpha", "correction", "features", "data_quality", "data_quality_alert", "estimated_performance",
            "prediction_drift", "multivariate", "baseline", "rows", "chunk_size", "methods", "message", "run_name",
            "created_at", "report_url", "retrain_job_id",
        )  # fmt: skip

    def get_status(self, event: DriftEvent) -> str:
        return "insufficient_data" if event.status == DriftEvent.Status.INSUFFICIENT_DATA else "success"

    def get_baseline(self, event: DriftEvent) -> dict[str, Any]:
        sample_id = str(event.drift_sample_id) if event.drift_sample_id else None
        return {"kind": event.baseline_kind, "drift_sample_id": sample_id, "rows": event.baseline_rows}

    def get_rows(self, event: DriftEvent) -> dict[str, int]:
        return {"baseline": event.baseline_rows, "subject": event.subject_rows}

    def get_report_url(self, event: DriftEvent) -> str:
        return f"/drift-events/{event.id}/report"
