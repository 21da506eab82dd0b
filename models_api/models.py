"""Jobs: training, retraining and batch scoring on Celery workers."""

from __future__ import annotations

import uuid

from django.db import models

from core.models import TimeStampedModel


class Job(TimeStampedModel):
    """A training, retraining or batch scoring on a Celery worker, as the API and the admin see it."""

    class Kind(models.TextChoices):
        TRAIN = "train", "train"
        RETRAIN = "retrain", "retrain"
        SCORE = "score", "score"

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    model_name = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    traceback = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Progress of a batch scoring: rows predicted and stored so far (committed).
    rows_done = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

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
