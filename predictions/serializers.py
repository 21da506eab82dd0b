"""Serializers of the prediction store's endpoints."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from predictions.models import Prediction


class PredictionOutput(serializers.ModelSerializer):
    class Meta:
        model = Prediction
        fields = (
            "id", "model_name", "model_version", "request_id", "row_index", "inputs", "prediction",
            "probabilities", "ground_truth", "ground_truth_at", "created_at",
        )  # fmt: skip


class FeedbackItemInput(serializers.Serializer):
    """Ground truth for one prediction: by prediction_id, or by request_id and row_index."""

    prediction_id = serializers.IntegerField(required=False, min_value=1)
    request_id = serializers.UUIDField(required=False)
    row_index = serializers.IntegerField(required=False, min_value=0)
    ground_truth = serializers.JSONField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        by_id = "prediction_id" in attrs
        by_row = "request_id" in attrs and "row_index" in attrs
        if by_id == by_row or (by_id and ("request_id" in attrs or "row_index" in attrs)):
            raise serializers.ValidationError("give either prediction_id, or request_id and row_index.")
        if attrs["ground_truth"] is None:
            raise serializers.ValidationError({"ground_truth": ["must not be null."]})
        return attrs


class FeedbackOutput(serializers.Serializer):
    status = serializers.CharField()
    updated = serializers.IntegerField()
