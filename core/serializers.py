"""Serializer pieces shared by the apps: the dataset value and the error shape."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.utils import html

DATASET_SCHEMA = {
    "type": "object",
    "description": (
        "Exactly one of: dataframe_split {columns, data}, dataframe_records [{...}], "
        "uri (CSV or Parquet in the datasets storage), builtin (iris | wine | breast_cancer | diabetes), "
        "query (a named query of a configured data source: GET /data-sources/). "
        "In a multipart request, a CSV file in the form field `file` instead."
    ),
    "properties": {
        "dataframe_split": {
            "type": "object",
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": {"type": "array", "items": {}}},
            },
        },
        "dataframe_records": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        "uri": {"type": "string"},
        "builtin": {"type": "string", "enum": ["iris", "wine", "breast_cancer", "diabetes"]},
        "query": {
            "type": "object",
            "description": "A named query of a configured data source; parameters are bound, never spliced.",
            "properties": {
                "source": {"type": "string"},
                "name": {"type": "string"},
                "params": {"type": "object", "additionalProperties": True},
            },
            "required": ["source", "name"],
        },
    },
}


@extend_schema_field(DATASET_SCHEMA)
class DatasetField(serializers.Field):
    """A dataset value: an object of one form, or (multipart) the uploaded file in ``file``."""

    default_error_messages = {"invalid": "must be a dataset object or an uploaded CSV file."}

    def get_value(self, dictionary: Any) -> Any:
        if html.is_html_input(dictionary) and self.field_name not in dictionary:
            return dictionary.get("file", serializers.empty)
        return super().get_value(dictionary)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, UploadedFile | dict):
            return data
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


class StringMapField(serializers.JSONField):
    """A JSON object of string keys to string values (tags)."""

    def to_internal_value(self, data: Any) -> dict[str, str]:
        value = super().to_internal_value(data)
        if not isinstance(value, dict) or not all(isinstance(v, str | int | float) for v in value.values()):
            raise serializers.ValidationError("must be an object of string values.")
        return {str(key): str(item) for key, item in value.items()}


class ErrorDetailOutput(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class ErrorOutput(serializers.Serializer):
    """The one error shape."""

    status = serializers.CharField(default="failed")
    error = ErrorDetailOutput()
    run_name = serializers.CharField(required=False)


# The error responses every operation documents (mlservice.schema adds the ones a view leaves out).
ERRORS = {
    400: OpenApiResponse(ErrorOutput, description="Invalid input, naming the field and the reason."),
    401: OpenApiResponse(ErrorOutput, description="Missing or invalid token."),
    404: OpenApiResponse(ErrorOutput, description="Unknown model, version or alias."),
    413: OpenApiResponse(ErrorOutput, description="Body or dataset too large."),
    415: OpenApiResponse(ErrorOutput, description="Unsupported content type."),
    503: OpenApiResponse(ErrorOutput, description="Storage or MLflow unavailable."),
}
