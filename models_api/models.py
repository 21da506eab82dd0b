"""Jobs: training and retraining on Celery workers."""

from __future__ import annotations

import uuid

from django.db import models

from core.models import TimeStampedModel


class Job(TimeStampedModel):
    """Work on a Celery worker (a training, a retraining, a drift check), as the API and the admin see it."""

    class Kind(models.TextChoices):
        TRAIN = "train", "train"
        RETRAIN = "retrain", "retrain"
        DRIFT_CHECK = "drift", "drift check"

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
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        permissions = [
            ("train", "Can train models (POST /train)"),
            ("evaluate", "Can evaluate model versions (POST /evaluate)"),
        ]
        ordering = ["-created_at"]
        indexes = [
            # GET /jobs/?status= and the reaper's "running with a stale heartbeat".
            models.Index(fields=["status", "-created_at"], name="job_status_created"),
            models.Index(fields=["model_name", "-created_at"], name="job_model_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.model_name} ({self.status})"
