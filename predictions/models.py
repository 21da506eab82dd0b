"""The prediction store: every input-prediction pair, per model version."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Prediction(models.Model):
    """One row a model version predicted: its inputs, its output and, later, its ground truth."""

    id = models.BigAutoField(primary_key=True)
    model_name = models.CharField(max_length=100)
    model_version = models.CharField(max_length=20)
    request_id = models.UUIDField()
    row_index = models.PositiveIntegerField()
    inputs = models.JSONField()
    prediction = models.JSONField()
    probabilities = models.JSONField(null=True, blank=True)
    ground_truth = models.JSONField(null=True, blank=True)
    ground_truth_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        permissions = [
            ("predict", "Can predict with a model version (POST /inference)"),
            ("give_feedback", "Can send ground truth for stored predictions"),
        ]
        ordering = ["-id"]
        constraints = [
            # Feedback by (request_id, row_index) and the guarantee that a request is stored once.
            models.UniqueConstraint(fields=["request_id", "row_index"], name="prediction_request_row_unique"),
        ]
        indexes = [
            # GET /predictions/?model_name=&model_version= (cursor on -id), the monitoring window
            # "last N inputs of this version", and evaluation on a version's stored predictions.
            models.Index(fields=["model_name", "model_version", "-id"], name="prediction_version_recent"),
            # since/until and the admin's date drill-down.
            models.Index(fields=["-created_at"], name="prediction_time"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.model_version} #{self.id}"
