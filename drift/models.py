"""Drift samples: training rows set aside for drift checks, kept in object storage."""

from __future__ import annotations

import uuid

from django.core.files.storage import Storage, storages
from django.db import models

from core.models import TimeStampedModel


def drift_samples_storage() -> Storage:
    """Return the storage drift samples live in (a named callable: migrations can't serialise a lambda)."""
    return storages["drift_samples"]


class DriftSample(TimeStampedModel):
    """A random slice of a training set, kept aside as the baseline of a model version's drift checks."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    file = models.FileField(storage=drift_samples_storage, max_length=300)
    rows = models.PositiveIntegerField()
    columns = models.JSONField(default=list)
    dtypes = models.JSONField(default=dict)
    target = models.CharField(max_length=200, blank=True, default="")
    registered_model_name = models.CharField(max_length=100)
    # Empty until the model version that owns the sample is registered.
    model_version = models.CharField(max_length=20, blank=True, default="")
    run = models.ForeignKey("registry.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The baseline look-up of a drift check: the sample of (model, version).
            models.Index(fields=["registered_model_name", "model_version"], name="driftsample_model_version"),
        ]

    def __str__(self) -> str:
        version = self.model_version or "?"
        return f"{self.registered_model_name} v{version} ({self.rows} rows)"


def drift_subjects_storage() -> Storage:
    """Return the storage saved subjects of drift checks live in (the drift-samples storage)."""
    return storages["drift_samples"]


class DriftEvent(TimeStampedModel):
    """One drift check of a model version: subject vs baseline, per feature and overall."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", "manual (API)"
        MONITORING = "monitoring", "monitoring"
        COMMAND = "command", "command"

    class Status(models.TextChoices):
        COMPLETED = "completed", "completed"
        INSUFFICIENT_DATA = "insufficient_data", "insufficient data"

    class Baseline(models.TextChoices):
        DRIFT_SAMPLE = "drift_sample", "drift sample"
        DATASET = "dataset", "dataset given"

    id = models.BigAutoField(primary_key=True)
    registered_model_name = models.CharField(max_length=100, blank=True, default="")
    model_version = models.CharField(max_length=20, blank=True, default="")
    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETED)
    baseline_kind = models.CharField(max_length=12, choices=Baseline.choices)
    drift_sample = models.ForeignKey(
        DriftSample, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    baseline_rows = models.PositiveIntegerField()
    subject_rows = models.PositiveIntegerField()
    chunk_size = models.PositiveIntegerField(null=True, blank=True)
    methods = models.JSONField(default=dict)
    # [{"column", "kind", "method", "value", "p_value", "adjusted_p_value", "threshold", "lower_threshold",
    #   "alert"}, ...]: tests carry p-values, distances thresholds.
    features = models.JSONField(default=list)
    # {column: {"kind": "continuous", "edges": [...], "baseline": [...], "subject": [...]}} for the report.
    distributions = models.JSONField(default=dict)
    drift_detected = models.BooleanField(default=False)
    drifted_share = models.FloatField(default=0.0)
    # The tests' family-wise level and multiple-testing correction, and the verdict's rule in words.
    alpha = models.FloatField(default=0.05)
    correction = models.CharField(max_length=30, blank=True, default="benjamini_hochberg")
    rule = models.TextField(blank=True, default="")
    # [{"column", "missing_baseline", "missing_subject", "unseen_categories", "unseen_share", "alert", ...}]
    data_quality = models.JSONField(default=list)
    data_quality_alert = models.BooleanField(default=False)
    # The model's side of a check of a version (null when the baseline had no model), never counted in
    # drift_detected. {"metric", "method", "value", "lower", "upper", "reference_value", "lower_threshold",
    # "upper_threshold", "alert", "realized", "metrics": {...}, "reason", ...} (drift.estimates).
    estimated_performance = models.JSONField(null=True, blank=True)
    # The model's outputs on the subject vs on the drift sample, shaped like one of ``features`` (+ "reason").
    prediction_drift = models.JSONField(null=True, blank=True)
    # {"method": "pca_reconstruction", "value", "lower", "upper", "alert", "chunk_size", "reason"}.
    multivariate = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True, default="")
    subject_file = models.FileField(storage=drift_subjects_storage, max_length=300, blank=True, default="")
    run = models.ForeignKey("registry.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The retrain job a retraining policy enqueued on this check's verdict (drift.hooks). An id, not a
    # foreign key: jobs live in models_api, a layer above this app; the job points back with a real one.
    retrain_job_id = models.UUIDField(null=True, blank=True)

    class Meta:
        permissions = [
            ("check_drift", "Can run drift checks (POST /data-drift)"),
        ]
        ordering = ["-created_at"]
        indexes = [
            # The latest check of a version (the /inference drift block, metrics, --if-drifted).
            models.Index(
                fields=["registered_model_name", "model_version", "-created_at"], name="driftevent_version_recent"
            ),
            # The admin's and GET /drift-events/ filters.
            models.Index(fields=["drift_detected", "-created_at"], name="driftevent_detected_recent"),
        ]

    def __str__(self) -> str:
        verdict = {True: "drift", False: "no drift"}[self.drift_detected]
        if self.status == self.Status.INSUFFICIENT_DATA:
            verdict = "insufficient data"
        return f"{self.registered_model_name} v{self.model_version or '-'}: {verdict} ({self.trigger})"

    @property
    def alerted_columns(self) -> list[str]:
        return [feature["column"] for feature in self.features if feature.get("alert")]


class VersionMonitor(TimeStampedModel):
    """Monitoring of one served model version, shared by every process: when it was last checked.

    A check is claimed by an atomic conditional update of ``last_check_at``, so however many web
    workers and schedulers ask, a version gets at most one check per interval.
    """

    registered_model_name = models.CharField(max_length=100)
    model_version = models.CharField(max_length=20)
    last_check_at = models.DateTimeField(null=True, blank=True)
    # The newest stored prediction the last check saw: the schedule skips versions with nothing newer.
    last_prediction_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["registered_model_name", "model_version"]
        constraints = [
            models.UniqueConstraint(fields=["registered_model_name", "model_version"], name="versionmonitor_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.registered_model_name} v{self.model_version} (checked {self.last_check_at or 'never'})"
