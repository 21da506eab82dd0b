"""Jobs: training, retraining, drift checks, evaluations and batch scoring on Celery workers."""

from __future__ import annotations

import uuid

from django.db import models

from core.models import TimeStampedModel


class Job(TimeStampedModel):
    """Work on a Celery worker: training, retraining, drift check, evaluation or batch scoring, as the API shows it."""

    class Kind(models.TextChoices):
        TRAIN = "train", "train"
        RETRAIN = "retrain", "retrain"
        DRIFT_CHECK = "drift", "drift check"
        SCORE = "score", "score"
        EVALUATE = "evaluate", "evaluate"

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # Blank for a drift check against a baseline of its own, with no model.
    model_name = models.CharField(max_length=100, blank=True)
    payload = models.JSONField(default=dict)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    # The HTTP status the error would have had in a request: what a waiting POST /train answers.
    error_status = models.PositiveSmallIntegerField(null=True, blank=True)
    traceback = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Progress of a batch scoring: rows predicted and stored so far (committed).
    rows_done = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The drift check whose verdict a retraining policy acted on (kind retrain). One-to-one: a check
    # enqueues at most one retrain, whichever process evaluates it (the database refuses a second).
    drift_event = models.OneToOneField(
        "drift.DriftEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        permissions = [
            ("train", "Can train models (POST /train)"),
            ("evaluate", "Can evaluate model versions (POST /evaluate)"),
            ("score", "Can score a dataset in batch (POST /inference/batch)"),
        ]
        ordering = ["-created_at"]
        indexes = [
            # GET /jobs/?status= and the reaper's "running with a stale heartbeat".
            models.Index(fields=["status", "-created_at"], name="job_status_created"),
            models.Index(fields=["model_name", "-created_at"], name="job_model_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.model_name} ({self.status})"


class RetrainPolicy(TimeStampedModel):
    """When a check of a model's production version enqueues a retrain, on which data, and what follows.

    One row per registered model. Its row is also the lock that serialises the policy's decisions:
    whoever evaluates a check locks it (SELECT ... FOR UPDATE) before looking for a running retrain
    and the cool-down, so two processes never both enqueue.
    """

    class Metric(models.TextChoices):
        ACCURACY = "accuracy", "accuracy (CBPE)"
        ROC_AUC = "roc_auc", "roc_auc (CBPE)"
        F1 = "f1", "f1 (CBPE)"
        MAE = "mae", "mae (DLE)"
        RMSE = "rmse", "rmse (DLE)"

    model_name = models.CharField(max_length=100, unique=True)
    retrain_on_drift = models.BooleanField(default=True)
    # A drift verdict counts when at least this share of the compared columns alert (0: any verdict).
    min_drifted_share = models.FloatField(default=0.0)
    # Retrain when the estimate of ``estimated_drop_metric`` is worse than its reference value by at
    # least ``estimated_drop_min`` (both empty: the estimate never triggers).
    estimated_drop_metric = models.CharField(max_length=10, choices=Metric.choices, blank=True, default="")
    estimated_drop_min = models.FloatField(null=True, blank=True)
    # A dataset value; null: the data recorded with the production version's training spec.
    data = models.JSONField(null=True, blank=True)
    promote = models.BooleanField(default=True)
    cooldown_s = models.PositiveIntegerField(default=3600)
    # When the policy last enqueued a retrain, and which (the cool-down counts from it).
    last_triggered_at = models.DateTimeField(null=True, blank=True)
    last_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "retraining policy"
        verbose_name_plural = "retraining policies"
        ordering = ["model_name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(min_drifted_share__gte=0.0, min_drifted_share__lte=1.0),
                name="retrainpolicy_share_0_1",
            ),
            models.CheckConstraint(
                condition=(models.Q(estimated_drop_metric="", estimated_drop_min__isnull=True))
                | (~models.Q(estimated_drop_metric="") & models.Q(estimated_drop_min__gt=0.0)),
                name="retrainpolicy_drop_metric_and_min",
            ),
        ]

    def __str__(self) -> str:
        return f"retraining policy of {self.model_name}"

    @property
    def retrain_on_estimated_drop(self) -> dict[str, object] | None:
        if not self.estimated_drop_metric:
            return None
        return {"metric": self.estimated_drop_metric, "min_drop": self.estimated_drop_min}
