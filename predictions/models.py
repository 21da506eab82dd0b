"""The prediction store: every input-prediction pair, per model version."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from predictions.fields import JSONTextField


class Prediction(models.Model):
    """One row a model version predicted: its inputs, its output and, later, its ground truth.

    On PostgreSQL the table is partitioned by range of created_at (migration 0004, maintained by
    predictions.partitions), and a partitioned table's unique indexes must hold created_at: there
    the primary key is (id, created_at) and prediction_request_row_unique is (request_id, row_index,
    created_at). The model keeps what holds in practice (ids come from one sequence; a write's rows
    share created_at, and request_rows_reserve guards a batch job's chunks) and what SQLite enforces.
    """

    id = models.BigAutoField(primary_key=True)
    model_name = models.CharField(max_length=100)
    model_version = models.CharField(max_length=20)
    request_id = models.UUIDField()
    row_index = models.PositiveIntegerField()
    # json, not jsonb: written at serving rates and read back whole (predictions.fields).
    inputs = JSONTextField()
    prediction = JSONTextField()
    probabilities = JSONTextField(null=True, blank=True)
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
            # Ascending: those reads walk it backwards as fast, and new rows land at its right end,
            # where page splits leave full pages (-id put them at the left end: a fifth more of the
            # server's CPU per COPYed row and twice the size; migration 0006).
            models.Index(fields=["model_name", "model_version", "id"], name="prediction_version_recent"),
            # since/until and the admin's date drill-down.
            models.Index(fields=["-created_at"], name="prediction_time"),
            # A model's predictions per day (the operator's page counts a day's rows through it, an
            # index-only range scan, once: closed days are kept in PredictionDay).
            # The version rides in the index (INCLUDE) so the per-version counts never read the table.
            models.Index(fields=["model_name", "created_at"], include=["model_version"], name="prediction_model_time"),
            # A version's latest predictions with feedback (realized accuracy): 1% of the rows may
            # have ground truth, so the version index alone walks ~100 rows for each one found.
            models.Index(
                fields=["model_name", "model_version", "-id"],
                condition=models.Q(ground_truth_at__isnull=False),
                name="prediction_version_feedback",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.model_version} #{self.id}"


class PredictionDay(models.Model):
    """How many predictions a model version stored on one closed UTC day: the operator's volume chart.

    Written once per (version, day) after the day has closed, from the prediction_model_time
    index, so the chart never counts more than today's rows live and the hot path never writes it.
    A day the model stored nothing has one row with an empty version and 0: the day was counted.
    """

    model_name = models.CharField(max_length=100)
    model_version = models.CharField(max_length=20)
    day = models.DateField()
    predictions = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["model_name", "day", "model_version"]
        constraints = [
            # Also the index of the chart's read: a model's days in a range.
            models.UniqueConstraint(fields=["model_name", "day", "model_version"], name="predictionday_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.model_version} {self.day}: {self.predictions}"
