"""Serializers of the registry layer: which model version a request means."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.naming import ALIAS_PATTERN, MODEL_NAME_MESSAGE, MODEL_NAME_PATTERN, MODEL_VERSION_PATTERN


class ModelSelectionInput(serializers.Serializer):
    """Which model version to use: explicit version, else alias, else "production", else latest."""

    model_name = serializers.RegexField(
        MODEL_NAME_PATTERN, max_length=100, error_messages={"invalid": MODEL_NAME_MESSAGE}
    )
    model_version = serializers.RegexField(
        MODEL_VERSION_PATTERN, required=False, allow_null=True, error_messages={"invalid": "must be a version number."}
    )
    alias = serializers.RegexField(
        ALIAS_PATTERN, required=False, allow_null=True, max_length=255,
        error_messages={"invalid": "must be letters, digits, _ or -, and not 'latest' or 'v<number>'."},
    )  # fmt: skip

    def to_internal_value(self, data: Any) -> Any:
        # A JSON number is a fine version too.
        if isinstance(data, dict) and isinstance(data.get("model_version"), int):
            data = {**data, "model_version": str(data["model_version"])}
        return super().to_internal_value(data)
