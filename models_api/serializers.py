"""Input and output serializers of the models_api endpoints."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.naming import ALIAS_PATTERN, MODEL_NAME_MESSAGE, MODEL_NAME_PATTERN, MODEL_VERSION_PATTERN
from core.serializers import DatasetField, StringMapField
from models_api.estimators import ESTIMATORS
from models_api.models import RetrainPolicy
from registry.serializers import ModelSelectionInput

# No braces: DRF formats some error messages with str.format, and the pattern's {0,99} broke it.


class AsyncInput(serializers.Serializer):
    """A body whose work runs as a job: ``"async": true`` answers 202 with the job at once instead of waiting."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # "async" is a Python keyword, so it can't be declared as a class attribute.
        fields["async"] = serializers.BooleanField(
            default=False, help_text="Answer 202 with the job at once instead of waiting for its result."
        )
        return fields


class TrainInput(AsyncInput):
    model_name = serializers.RegexField(
        MODEL_NAME_PATTERN, max_length=100, error_messages={"invalid": MODEL_NAME_MESSAGE}
    )
    # DRF's metaclass moves declared fields off the class, so this doesn't shadow Serializer.data.
    data = DatasetField()  # type: ignore[assignment]
    target = serializers.CharField(default="target", max_length=200)
    estimator = serializers.ChoiceField(choices=sorted(ESTIMATORS), default="RandomForestClassifier")
    params = serializers.JSONField(default=dict)
    features = serializers.JSONField(default=None, allow_null=True)
    drift_sample_fraction = serializers.FloatField(default=0.1, min_value=0.01, max_value=0.5)
    validation_fraction = serializers.FloatField(default=0.2, min_value=0.0, max_value=0.5)
    random_state = serializers.IntegerField(default=0, allow_null=True, min_value=0, max_value=2**32 - 1)
    alias = serializers.RegexField(
        ALIAS_PATTERN,
        default="production",
        allow_null=True,
        max_length=255,
        error_messages={"invalid": "must be letters, digits, _ or -, and not 'latest' or 'v<number>'."},
    )
    tags = StringMapField(default=dict)

    def validate_params(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be an object of parameter: value.")
        return value

    def validate_features(self, value: Any) -> list[str] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
            raise serializers.ValidationError("must be a non-empty list of column names, or null for all columns.")
        return value


class TrainOutput(serializers.Serializer):
    status = serializers.CharField()
    run_id = serializers.CharField()
    run_name = serializers.CharField()
    registered_model_name = serializers.CharField()
    model_version = serializers.CharField()
    drift_sample_id = serializers.UUIDField()
    metrics = serializers.DictField(child=serializers.FloatField())
    aliases = serializers.ListField(child=serializers.CharField())


class InferenceOptionsInput(ModelSelectionInput):
    """What POST /inference validates itself; the input is left to MLflow's parsers."""

    return_probabilities = serializers.BooleanField(default=False)


class InferenceInput(InferenceOptionsInput):
    """MLflow scoring-server body (one input format) plus the model selection (the documented body)."""

    dataframe_split = serializers.JSONField(required=False, help_text='{"columns": [...], "data": [[...]]}')
    dataframe_records = serializers.JSONField(required=False, help_text="[{column: value}, ...]")
    instances = serializers.JSONField(required=False, help_text="TF-serving style rows or columns")
    inputs = serializers.JSONField(required=False, help_text="TF-serving style rows or columns")


class InferenceQueryInput(InferenceOptionsInput):
    """Model selection in the query string, for a text/csv body."""


class _Rows(serializers.Field):
    """A list that the service built already JSON-ready: passed through, not walked item by item (hot path)."""

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field({"type": "array", "items": {}, "description": "One prediction per input row."})
class PredictionsField(_Rows):
    pass


@extend_schema_field({"type": "array", "items": {"type": "array", "items": {"type": "number"}}})
class ProbabilitiesField(_Rows):
    pass


@extend_schema_field({"type": "array", "items": {"type": "integer"}})
class PredictionIdsField(_Rows):
    pass


class InferenceOutput(serializers.Serializer):
    status = serializers.CharField()
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    request_id = serializers.UUIDField()
    predictions = PredictionsField()
    probabilities = ProbabilitiesField(required=False, help_text="When return_probabilities was asked.")
    prediction_ids = PredictionIdsField()
    run_name = serializers.CharField()
    drift = serializers.DictField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        body = super().to_representation(instance)
        if body.get("probabilities") is None:
            body.pop("probabilities", None)
        return body


class EvaluateInput(ModelSelectionInput, AsyncInput):
    # DRF's metaclass moves declared fields off the class, so this doesn't shadow Serializer.data.
    data = DatasetField(required=False, allow_null=True, default=None)  # type: ignore[assignment]
    target = serializers.CharField(default="target", max_length=200)
    # Like ``data``, a declared field name that mypy thinks shadows Field.source; DRF keeps them apart.
    source = serializers.ChoiceField(choices=["dataset", "predictions"], default="dataset")  # type: ignore[assignment]
    since = serializers.DateTimeField(required=False, allow_null=True, default=None)
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["source"] == "dataset" and attrs.get("data") is None:
            raise serializers.ValidationError({"data": ["required when source is 'dataset'."]})
        return attrs


class EvaluateOutput(serializers.Serializer):
    status = serializers.CharField()
    run_id = serializers.CharField(required=False)
    run_name = serializers.CharField(required=False)
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    rows = serializers.IntegerField()
    metrics = serializers.DictField(child=serializers.FloatField(), required=False)
    message = serializers.CharField(required=False)


class ModelSummaryOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    aliases = serializers.DictField(child=serializers.CharField())
    latest_version = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class ModelVersionOutput(serializers.Serializer):
    version = serializers.CharField()
    aliases = serializers.ListField(child=serializers.CharField())
    drift_sample_id = serializers.CharField(allow_null=True)
    run_id = serializers.CharField(allow_null=True)
    run_name = serializers.CharField(allow_null=True)
    estimator = serializers.CharField(allow_null=True)
    metrics = serializers.DictField(child=serializers.FloatField())
    created_at = serializers.DateTimeField(allow_null=True)
    tags = serializers.DictField(child=serializers.CharField())


class ModelDetailOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    aliases = serializers.DictField(child=serializers.CharField())
    created_at = serializers.DateTimeField(allow_null=True)
    versions = ModelVersionOutput(many=True)


class AliasInput(serializers.Serializer):
    alias = serializers.RegexField(
        ALIAS_PATTERN, max_length=255,
        error_messages={"invalid": "must be letters, digits, _ or -, and not 'latest' or 'v<number>'."},
    )  # fmt: skip
    version = serializers.RegexField(MODEL_VERSION_PATTERN, error_messages={"invalid": "must be a version number."})

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("version"), int):
            data = {**data, "version": str(data["version"])}
        return super().to_internal_value(data)


class AliasOutput(serializers.Serializer):
    status = serializers.CharField()
    model_name = serializers.CharField()
    alias = serializers.CharField()
    version = serializers.CharField()


class JobOutput(serializers.Serializer):
    job_id = serializers.UUIDField(source="id")
    kind = serializers.CharField()
    status = serializers.CharField()
    model_name = serializers.CharField()
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    rows_done = serializers.IntegerField(
        allow_null=True, help_text="Batch scoring: rows predicted and stored so far (null for other jobs)."
    )
    result = serializers.JSONField(
        allow_null=True,
        help_text="On success: the body the request answers when it waits (a /train's 201, a /data-drift's or "
        "/evaluate's 200); for a batch scoring, its request id, rows and seconds; for a retrain, both versions' "
        "scores on the holdout, the decision (promoted, kept, trained, skipped) and its reason.",
    )
    error = serializers.JSONField(allow_null=True, help_text="On failure: the one error shape.")
    location = serializers.SerializerMethodField()
    drift_event_id = serializers.IntegerField(
        allow_null=True, help_text="A retrain a policy enqueued: the drift check that triggered it."
    )

    def get_location(self, job: Any) -> str:
        return f"/jobs/{job.id}"


# --- Retraining policies --------------------------------------------------------------------------


class EstimatedDropInput(serializers.Serializer):
    metric = serializers.ChoiceField(
        choices=[choice for choice, _ in RetrainPolicy.Metric.choices],
        help_text="A metric of the check's estimated_performance: accuracy, roc_auc, f1 (CBPE), mae, rmse (DLE).",
    )
    min_drop = serializers.FloatField(
        help_text="Retrain when the estimate is worse than the reference value by at least this much "
        "(below it for a score, above it for a loss)."
    )

    def validate_min_drop(self, value: float) -> float:
        if not value > 0:
            raise serializers.ValidationError("must be greater than 0.")
        return value


class RetrainPolicyInput(serializers.Serializer):
    """PUT /models/{name}/policy: the whole policy (a field left out takes its default)."""

    retrain_on_drift = serializers.BooleanField(default=True, help_text="Retrain on a drift verdict.")
    min_drifted_share = serializers.FloatField(
        default=0.0, min_value=0.0, max_value=1.0,
        help_text="The least drifted_share a drift verdict needs to count (0: any verdict).",
    )  # fmt: skip
    retrain_on_estimated_drop = EstimatedDropInput(
        allow_null=True, default=None, help_text="Retrain when the estimated performance drops; null: never."
    )
    # DRF's metaclass moves declared fields off the class, so this doesn't shadow Serializer.data.
    data = DatasetField(  # type: ignore[assignment]
        allow_null=True, default=None,
        help_text="The data to retrain on (a dataset value); null: the data recorded with the production "
        "version's training spec.",
    )  # fmt: skip
    promote = serializers.BooleanField(
        default=True, help_text="Move production to the candidate when it is at least as good on the holdout."
    )
    cooldown_s = serializers.IntegerField(
        default=3600, min_value=0, max_value=365 * 24 * 3600,
        help_text="Seconds after a retrain was enqueued during which checks enqueue none.",
    )  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A PUT replaces the whole policy: a misspelt field would silently fall back to its default.
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({unknown[0]: ["unknown field."]})
        if isinstance(attrs.get("data"), UploadedFile):
            raise serializers.ValidationError({"data": ["must be a dataset object, not an upload."]})
        return attrs


class RetrainPolicyOutput(serializers.Serializer):
    model_name = serializers.CharField()
    retrain_on_drift = serializers.BooleanField()
    min_drifted_share = serializers.FloatField()
    retrain_on_estimated_drop = EstimatedDropInput(allow_null=True)
    data = serializers.JSONField(  # type: ignore[assignment]
        allow_null=True, help_text="null: the production version's recorded data."
    )
    promote = serializers.BooleanField()
    cooldown_s = serializers.IntegerField()
    last_triggered_at = serializers.DateTimeField(allow_null=True, help_text="When it last enqueued a retrain.")
    last_job_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DataSourceQueryOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.ListField(child=serializers.CharField())


class DataSourceOutput(serializers.Serializer):
    """A configured data source as callers see it: names only, never its URL or secrets."""

    name = serializers.CharField()
    description = serializers.CharField()
    queries = DataSourceQueryOutput(many=True)


class BatchScoreInput(ModelSelectionInput):
    # DRF's metaclass moves declared fields off the class, so this doesn't shadow Serializer.data.
    data = DatasetField(help_text="A dataset value (JSON): a named query, a uri, inline rows or a builtin.")  # type: ignore[assignment]

    def validate_data(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a dataset object; keep big files in the datasets storage (uri).")
        return value


class BatchResultOutput(serializers.Serializer):
    status = serializers.CharField()
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    request_id = serializers.UUIDField(help_text="Every row is stored under it: GET /predictions/?request_id=...")
    rows = serializers.IntegerField()
    seconds = serializers.FloatField()
    run_name = serializers.CharField(help_text="The batch's infer_{datetime} run (rows, seconds, rows per second).")
